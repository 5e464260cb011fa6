/* SPDX-License-Identifier: MIT */
/* An outside program using an installed or subproject cport: a port, a nop, a timer. */

#include <cport.h>

#include <stdio.h>

int main(void)
{
	cport *port;
	int r = cport_create(&port, NULL);
	if (r < 0) {
		fprintf(stderr, "cport_create: %s\n", cport_strerror(r));
		return 1;
	}
	cport_op nop = {0}, timer = {0};
	if ((r = cport_nop(port, &nop)) < 0 || (r = cport_timer(port, &timer, 1000000, 0)) < 0) {
		fprintf(stderr, "submit: %s\n", cport_strerror(r));
		cport_destroy(port);
		return 1;
	}
	int bad = 0;
	for (int left = 2; left > 0;) {
		cport_op *done[2];
		int n = cport_wait(port, done, 2, 5000000000); /* 5 s: far more than needed */
		if (n <= 0) {
			fprintf(stderr, "cport_wait: %s\n", n ? cport_strerror(n) : "timed out");
			bad = 1;
			break;
		}
		for (int i = 0; i < n; i++, left--) {
			bad |= done[i]->result != 0;
			printf("%s: %s\n", done[i] == &nop ? "nop" : "timer",
			       cport_strerror(done[i]->result));
		}
	}
	printf("backend: %s\n", cport_backend_name(port));
	cport_destroy(port);
	return bad;
}
