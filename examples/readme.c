/* SPDX-License-Identifier: MIT */
/* The example in README.md, kept here so CI compiles and runs it: a read and a timer. */
#include <cport.h>
#include <fcntl.h>
#include <stdio.h>

int main(void)
{
	cport *port;
	if (cport_create(&port, NULL) < 0)
		return 1;
	printf("backend: %s\n", cport_backend_name(port));

	int fd = open("/etc/hostname", O_RDONLY);
	char buf[256];
	cport_op read_op = {0}, timer_op = {0};
	cport_read(port, &read_op, fd, buf, sizeof buf, 0); /* positional read at offset 0 */
	cport_timer(port, &timer_op, 50 * 1000000, 0);      /* fires in 50 ms */

	for (int left = 2; left > 0;) {
		cport_op *done[8];
		int n = cport_wait(port, done, 8, -1);          /* submits, then reaps */
		for (int i = 0; i < n; i++, left--) {
			if (done[i] == &read_op)
				printf("read %lld bytes\n", (long long)read_op.result);
			else
				printf("timer: %s\n", cport_strerror(timer_op.result));
		}
	}
	cport_destroy(port);
	return 0;
}
