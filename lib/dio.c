/* SPDX-License-Identifier: MIT */
/* Direct I/O helpers: cport_dio_query's checks (its OS part is in unix.c / win.c) and aligned buffers. */

#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <malloc.h>
#endif

_Static_assert(sizeof(cport_dio_info) == 64, "cport_dio_info ABI size");

/* The fields of the first version of the struct: a caller's size must cover them. */
#define DIO_INFO_V1 offsetof(cport_dio_info, reserved_)

int cport_dio_query(cport_fd fd, cport_dio_info *info)
{
	if (!info || info->size < DIO_INFO_V1)
		return CPORT_EINVAL;
	if (!cport__os_fd_valid(fd))
		return CPORT_EBADF;
	cport_dio_info d;
	memset(&d, 0, sizeof d);
	int r = cport__os_dio_query(fd, &d);
	if (r < 0)
		return r;
	/* A caller built with a smaller struct gets its own size's worth, no more. */
	size_t n = info->size < sizeof d ? info->size : sizeof d;
	d.size = info->size;
	memcpy(info, &d, n);
	return 0;
}

/* Larger alignments are no buffer's need: a typo, or a length passed as the alignment. */
#define ALIGN_MAX ((size_t)1 << 30)

int cport_alloc_aligned(void **buf, size_t size, size_t align)
{
	if (!buf || size == 0 || align == 0 || (align & (align - 1)) != 0 || align > ALIGN_MAX)
		return CPORT_EINVAL;
	/* posix_memalign wants a multiple of sizeof(void *); any power of two above it is. */
	if (align < sizeof(void *))
		align = sizeof(void *);
#ifdef _WIN32
	void *p = _aligned_malloc(size, align);
	if (!p)
		return CPORT_ENOMEM;
#else
	void *p = NULL;
	int r = posix_memalign(&p, align, size);
	if (r != 0)
		return r == EINVAL ? CPORT_EINVAL : CPORT_ENOMEM;
#endif
	*buf = p;
	return 0;
}

void cport_free_aligned(void *buf)
{
#ifdef _WIN32
	_aligned_free(buf);
#else
	free(buf);
#endif
}
