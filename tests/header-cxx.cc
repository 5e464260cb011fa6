// SPDX-License-Identifier: MIT
// Compiles and links cport.h from C++: FFI and C++ users read the same header.
#include "cport.h"

#include <cstdio>

int main()
{
	cport *port = nullptr;
	cport_options o;
	cport_options_init(&o);
	static_assert(sizeof(cport_op) == 224, "cport_op ABI size");
	int r = cport_create(&port, &o);
	if (r < 0) {
		std::printf("cport_create: %s\n", cport_strerror(r));
		return 1;
	}
	cport_op op = {};
	cport_op *got = nullptr;
	if (cport_nop(port, &op) != 0 || cport_wait(port, &got, 1, -1) != 1 || got != &op)
		return 1;
	cport_destroy(port);
	std::printf("C++: %s ok\n", cport_err_name(CPORT_ETIMEDOUT));
	return 0;
}
