/* SPDX-License-Identifier: MIT */
/* Compiles cport.h as strict C99: the header must not need anything newer. */
#include "cport.h"

int main(void)
{
	cport_op op = {0};
	cport_options o;
	cport_options_init(&o);
	return (int)(sizeof op != 224) + (CPORT_EINVAL >= 0);
}
