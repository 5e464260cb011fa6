/* SPDX-License-Identifier: MIT */
/* The simulation's disk (cport.h section 8): files and names in memory, what of them is
 * durable, and the crash that keeps only that. Used by lib/backend/sim.c alone. */
#ifndef CPORT_SIMDISK_H
#define CPORT_SIMDISK_H

#include "../internal.h"

/* A byte range written since its file's last good flush. */
struct simdisk_extent {
	uint64_t off, len;
};

/* A file's or directory's contents. Referenced by its names (live and durable) and by
 * the descriptors open on it; freed when none is left. */
struct simdisk_file {
	uint64_t ino;
	bool dir;
	uint8_t *data;              /* what reads see: `size` bytes */
	uint64_t size, cap;
	uint8_t *dur;               /* what survives a crash: `dsize` bytes */
	uint64_t dsize;
	struct simdisk_extent *dirty; /* written since the last good flush, oldest first */
	uint32_t ndirty, dcap;
	uint32_t refs;
	int64_t mtime_ns;           /* virtual */
};

/* A name: a path (no trailing '/'; the root is "") and what it names. */
struct simdisk_name {
	char *path;
	struct simdisk_file *file;
};

struct simdisk_names {
	struct simdisk_name *v;
	uint32_t n, cap;
};

struct cport_sim_disk {
	struct simdisk_names live;    /* what lookups see */
	struct simdisk_names durable; /* what a crash leaves */
	struct simdisk_file *root;
	uint64_t next_ino;
	uint32_t users;               /* ports on it (a crash waits for none) */
};

/* Files grow up to this (CPORT_EFBIG beyond): a simulation of a disk, not a disk. */
#define SIMDISK_MAX_SIZE ((uint64_t)256 << 20)

/* The path as the disk keys it: relative to the root (which is ""), "." and ".."
 * resolved, no empty components. */
int simdisk_norm(const char *path, char *out, size_t n);
struct simdisk_file *simdisk_lookup(struct cport_sim_disk *d, const char *path);
/* Is `path`'s parent an existing directory? */
bool simdisk_parent_ok(struct cport_sim_disk *d, const char *path);
/* A new file or directory named `path` (its parent checked by the caller). */
int simdisk_create(struct cport_sim_disk *d, const char *path, bool dir,
		   struct simdisk_file **out);
void simdisk_ref(struct simdisk_file *f);
void simdisk_unref(struct simdisk_file *f);

/* The ops, each 0 or bytes, or a CPORT_E* code. */
int64_t simdisk_read(struct simdisk_file *f, const cport_iovec *iov, unsigned cnt,
		     uint64_t off);
int64_t simdisk_write(struct simdisk_file *f, const cport_iovec *iov, unsigned cnt,
		      uint64_t off, int64_t now);
int simdisk_truncate(struct simdisk_file *f, uint64_t size);
int simdisk_fallocate(struct simdisk_file *f, uint32_t mode, uint64_t off, uint64_t len);
/* A flush that works (`ok`) makes the file's dirty bytes and size durable; one that
 * fails drops them from what a flush will ever make durable (Linux after fsyncgate). */
void simdisk_flush(struct simdisk_file *f, bool ok);
/* A flush of directory `dir`: the names in it become durable as they are now. */
int simdisk_flush_dir(struct cport_sim_disk *d, const char *dir);
int simdisk_rename(struct cport_sim_disk *d, const char *from, const char *to);
/* cport_rename2: CPORT_RENAME_NOREPLACE, or CPORT_RENAME_EXCHANGE of two files. */
int simdisk_rename2(struct cport_sim_disk *d, const char *from, const char *to, uint32_t flags);
int simdisk_unlink(struct cport_sim_disk *d, const char *path, bool dir);
/* Live names that `f` has (stat's nlink). */
uint32_t simdisk_nlink(struct cport_sim_disk *d, const struct simdisk_file *f);

/* sim.c: a crash of `disk` closes the world's descriptors open on it. */
void cport__sim_disk_closing(cport_sim_disk *disk);

#endif /* CPORT_SIMDISK_H */
