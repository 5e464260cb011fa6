/* SPDX-License-Identifier: MIT */
/* Allocation counting: malloc and friends interposed in the bench executable. */

/*
 * The executable's definitions of malloc, calloc, realloc and the aligned forms win
 * over libc's for every object in the process (cport, liburing, libuv, libc itself),
 * so counting here sees every allocation. They forward to glibc's __libc_* entry
 * points, which glibc exports for exactly this use. Only calls made while counting is
 * enabled (the measured phase) are counted, from any thread. Sanitizer builds replace
 * malloc themselves, so there the hook is left out and counts read -1.
 */

#include "bench.h"

#ifdef BENCH_ALLOC_HOOK

#include <errno.h>
#include <stdatomic.h>
#include <malloc.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static atomic_bool alloc_on;
static atomic_llong alloc_calls;

static inline void alloc_note(void)
{
	if (atomic_load_explicit(&alloc_on, memory_order_relaxed))
		atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
}

void alloc_count_enable(bool on)
{
	atomic_store(&alloc_on, on);
}

int64_t alloc_count(void)
{
	return atomic_load(&alloc_calls);
}

void *malloc(size_t n)
{
	alloc_note();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	alloc_note();
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	alloc_note();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}

void *memalign(size_t align, size_t n)
{
	alloc_note();
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	alloc_note();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	alloc_note();
	void *p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

#else

void alloc_count_enable(bool on)
{
	(void)on;
}

int64_t alloc_count(void)
{
	return -1;
}

#endif
