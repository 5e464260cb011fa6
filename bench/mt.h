/* SPDX-License-Identifier: MIT */
/* The multi-threaded server workloads (mt-echo, mt-uneven): what the C rows and the C++
 * Asio peer share. */
#ifndef CPORT_BENCH_MT_H
#define CPORT_BENCH_MT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_CONNS 64     /* connections served */
#define MT_MSG 64       /* bytes of one request and of its answer */
#define MT_HOT 4        /* mt-uneven: connections that carry most of the traffic */
#define MT_HOT_DEPTH 32 /* ...with this many requests in flight each (the others: 1) */
#define MT_BUF 4096     /* a server's receive buffer per connection */

/* A server's work per request: `iters` rounds of a xorshift the compiler cannot drop,
 * standing for what a handler computes (mt-uneven: ~2 us on the 2-vCPU VM). The same
 * code for the C rows and the Asio peer. */
static inline uint64_t mt_work(unsigned iters, uint64_t x)
{
	for (unsigned i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* The Asio peer (bench/peer-asio.cc): serve the accepted, non-blocking server ends
 * `sfd[0..n)` with `threads` threads running one io_context (async_read_some, the work
 * per request, async_write, again) until mt_asio_stop. NULL on failure. */
void *mt_asio_start(const int *sfd, unsigned n, unsigned threads, unsigned work_iters);
void mt_asio_stop(void *server);

#ifdef __cplusplus
}
#endif

#endif
