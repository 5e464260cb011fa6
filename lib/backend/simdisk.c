/* SPDX-License-Identifier: MIT */
/*
 * The simulation's disk (cport.h section 8). Two views of one set of files: what the
 * program sees now (`live` names, each file's `data`), and what a power cut would leave
 * (`durable` names, each file's `dur`). A flush of a file moves its dirty extents from
 * the first view to the second; a flush of a directory does the same for the names in
 * it; a crash throws the first view away. Plain arrays searched linearly: a simulated
 * program has tens of files, and a clear model matters more here than speed.
 */
#include "simdisk.h"

#include <stdlib.h>
#include <string.h>

/* ---- 1. Names ------------------------------------------------------------------------ */

int simdisk_norm(const char *path, char *out, size_t n)
{
	/* Component by component: "." is dropped, ".." takes the last one back, and
	 * every path is relative to the root ("/a" and "a" are one name). */
	size_t len = 0;
	while (*path) {
		while (*path == '/')
			path++;
		size_t c = strcspn(path, "/");
		if (c == 0)
			break;
		if (c == 1 && path[0] == '.') {
			/* nothing */
		} else if (c == 2 && path[0] == '.' && path[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--; /* the '/' before it */
		} else {
			if (len + (len > 0) + c >= n)
				return CPORT_ENAMETOOLONG;
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, path, c);
			len += c;
		}
		path += c;
	}
	out[len] = '\0';
	return 0;
}

/* The length of `path`'s parent: up to its last '/' ("/a" -> "" is the root). */
static size_t simdisk_parent_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? (size_t)(slash - path) : 0;
}

static bool simdisk_in_dir(const char *path, const char *dir)
{
	size_t n = simdisk_parent_len(path);
	return path[0] && strlen(dir) == n && strncmp(path, dir, n) == 0;
}

static struct simdisk_name *simdisk_find(struct simdisk_names *v, const char *path)
{
	for (uint32_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i].path, path) == 0)
			return &v->v[i];
	return NULL;
}

struct simdisk_file *simdisk_lookup(struct cport_sim_disk *d, const char *path)
{
	if (!path[0])
		return d->root;
	struct simdisk_name *nm = simdisk_find(&d->live, path);
	return nm ? nm->file : NULL;
}

bool simdisk_parent_ok(struct cport_sim_disk *d, const char *path)
{
	char parent[4096];
	size_t n = simdisk_parent_len(path);
	if (n >= sizeof parent)
		return false;
	memcpy(parent, path, n);
	parent[n] = '\0';
	struct simdisk_file *p = simdisk_lookup(d, parent);
	return p && p->dir;
}

static int simdisk_add(struct simdisk_names *v, const char *path, struct simdisk_file *f)
{
	if (cport__grow(&v->v, &v->cap, sizeof *v->v, (uint64_t)v->n + 1, 16) < 0)
		return CPORT_ENOMEM;
	char *p = strdup(path);
	if (!p)
		return CPORT_ENOMEM;
	v->v[v->n++] = (struct simdisk_name){p, f};
	simdisk_ref(f);
	return 0;
}

static void simdisk_remove(struct simdisk_names *v, struct simdisk_name *nm)
{
	struct simdisk_file *f = nm->file;
	free(nm->path);
	*nm = v->v[--v->n];
	simdisk_unref(f);
}

/* ---- 2. Files ------------------------------------------------------------------------ */

void simdisk_ref(struct simdisk_file *f)
{
	f->refs++;
}

void simdisk_unref(struct simdisk_file *f)
{
	assert(f->refs > 0);
	if (--f->refs > 0)
		return;
	free(f->data);
	free(f->dur);
	free(f->dirty);
	free(f);
}

int simdisk_create(struct cport_sim_disk *d, const char *path, bool dir,
		   struct simdisk_file **out)
{
	struct simdisk_file *f = calloc(1, sizeof *f);
	if (!f)
		return CPORT_ENOMEM;
	f->ino = ++d->next_ino;
	f->dir = dir;
	f->refs = 1; /* ours until the name holds it */
	int r = simdisk_add(&d->live, path, f);
	simdisk_unref(f);
	if (r < 0)
		return r;
	*out = f;
	return 0;
}

/* Room for `size` bytes of data (zeros past the old size). */
static int simdisk_grow(struct simdisk_file *f, uint64_t size)
{
	if (size > SIMDISK_MAX_SIZE)
		return CPORT_EFBIG;
	if (size > f->cap) {
		uint64_t cap = f->cap ? f->cap : 4096;
		while (cap < size)
			cap *= 2;
		uint8_t *nd = realloc(f->data, cap);
		if (!nd)
			return CPORT_ENOMEM;
		f->data = nd;
		f->cap = cap;
	}
	if (size > f->size)
		memset(f->data + f->size, 0, size - f->size);
	return 0;
}

static int simdisk_dirty(struct simdisk_file *f, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	if (cport__grow(&f->dirty, &f->dcap, sizeof *f->dirty, (uint64_t)f->ndirty + 1, 8) < 0)
		return CPORT_ENOMEM;
	f->dirty[f->ndirty++] = (struct simdisk_extent){off, len};
	return 0;
}

int64_t simdisk_read(struct simdisk_file *f, const cport_iovec *iov, unsigned cnt,
		     uint64_t off)
{
	if (f->dir)
		return CPORT_EISDIR;
	uint64_t done = 0;
	for (unsigned i = 0; i < cnt && off + done < f->size; i++) {
		uint64_t n = iov[i].len;
		if (n > f->size - (off + done))
			n = f->size - (off + done);
		if (n)
			memcpy(iov[i].base, f->data + off + done, (size_t)n);
		done += n;
	}
	return (int64_t)done;
}

int64_t simdisk_write(struct simdisk_file *f, const cport_iovec *iov, unsigned cnt,
		      uint64_t off, int64_t now)
{
	if (f->dir)
		return CPORT_EISDIR;
	uint64_t len = 0;
	for (unsigned i = 0; i < cnt; i++)
		len += iov[i].len;
	if (len == 0)
		return 0; /* changes nothing, not even the size (as pwrite) */
	if (off > SIMDISK_MAX_SIZE || len > SIMDISK_MAX_SIZE - off)
		return CPORT_EFBIG;
	int r = simdisk_grow(f, off + len);
	if (r == 0)
		r = simdisk_dirty(f, off, len);
	if (r < 0)
		return r;
	uint64_t at = off;
	for (unsigned i = 0; i < cnt; i++) {
		if (iov[i].len)
			memcpy(f->data + at, iov[i].base, iov[i].len);
		at += iov[i].len;
	}
	if (off + len > f->size)
		f->size = off + len;
	f->mtime_ns = now;
	return (int64_t)len;
}

int simdisk_truncate(struct simdisk_file *f, uint64_t size)
{
	if (f->dir)
		return CPORT_EISDIR;
	int r = simdisk_grow(f, size);
	if (r < 0)
		return r;
	f->size = size;
	return 0;
}

int simdisk_fallocate(struct simdisk_file *f, uint32_t mode, uint64_t off, uint64_t len)
{
	if (f->dir)
		return CPORT_EISDIR;
	if (off > SIMDISK_MAX_SIZE || len > SIMDISK_MAX_SIZE - off)
		return CPORT_EFBIG;
	uint64_t end = off + len;
	bool keep = (mode & CPORT_FALLOC_KEEP_SIZE) || (mode & CPORT_FALLOC_PUNCH_HOLE);
	if (mode & (CPORT_FALLOC_PUNCH_HOLE | CPORT_FALLOC_ZERO_RANGE)) {
		uint64_t zend = keep && end > f->size ? f->size : end;
		if (zend > off) {
			int r = simdisk_grow(f, zend);
			if (r == 0)
				r = simdisk_dirty(f, off, zend - off);
			if (r < 0)
				return r;
			memset(f->data + off, 0, zend - off);
		}
	}
	if (!keep && end > f->size) {
		int r = simdisk_grow(f, end);
		if (r < 0)
			return r;
		f->size = end;
	}
	return 0;
}

/* Make [off, off + len) of the file's data durable (clipped to its size). */
static void simdisk_persist(struct simdisk_file *f, uint64_t off, uint64_t len)
{
	if (off >= f->dsize)
		return; /* the durable copy was sized to the file already */
	if (len > f->dsize - off)
		len = f->dsize - off;
	memcpy(f->dur + off, f->data + off, len);
}

void simdisk_flush(struct simdisk_file *f, bool ok)
{
	if (ok) {
		uint8_t *nd = f->size ? realloc(f->dur, f->size) : f->dur;
		if (f->size && !nd) {
			ok = false; /* no memory to keep it: the flush "failed" */
		} else {
			if (f->size > f->dsize)
				memset(nd + f->dsize, 0, f->size - f->dsize);
			f->dur = nd;
			f->dsize = f->size;
			for (uint32_t i = 0; i < f->ndirty; i++)
				simdisk_persist(f, f->dirty[i].off, f->dirty[i].len);
		}
	}
	f->ndirty = 0;
}

int simdisk_flush_dir(struct cport_sim_disk *d, const char *dir)
{
	for (uint32_t i = 0; i < d->durable.n;)
		if (simdisk_in_dir(d->durable.v[i].path, dir))
			simdisk_remove(&d->durable, &d->durable.v[i]);
		else
			i++;
	for (uint32_t i = 0; i < d->live.n; i++)
		if (simdisk_in_dir(d->live.v[i].path, dir)) {
			int r = simdisk_add(&d->durable, d->live.v[i].path, d->live.v[i].file);
			if (r < 0)
				return r;
		}
	return 0;
}

/* ---- 3. Rename, unlink ---------------------------------------------------------------- */

static bool simdisk_has_children(struct cport_sim_disk *d, const char *dir)
{
	for (uint32_t i = 0; i < d->live.n; i++)
		if (simdisk_in_dir(d->live.v[i].path, dir))
			return true;
	return false;
}

/* A directory's entries move with it: "from/x" becomes "to/x". */
static int simdisk_move_children(struct cport_sim_disk *d, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	for (uint32_t i = 0; i < d->live.n; i++) {
		char *p = d->live.v[i].path;
		if (strncmp(p, from, fl) != 0 || p[fl] != '/')
			continue;
		char *np = malloc(tl + strlen(p + fl) + 1);
		if (!np)
			return CPORT_ENOMEM;
		memcpy(np, to, tl);
		strcpy(np + tl, p + fl);
		free(p);
		d->live.v[i].path = np;
	}
	return 0;
}

int simdisk_rename(struct cport_sim_disk *d, const char *from, const char *to)
{
	struct simdisk_name *src = simdisk_find(&d->live, from);
	if (!src || !to[0])
		return src ? CPORT_EBUSY : CPORT_ENOENT;
	if (!simdisk_parent_ok(d, to))
		return CPORT_ENOENT;
	size_t fl = strlen(from);
	if (src->file->dir && strncmp(to, from, fl) == 0 && to[fl] == '/')
		return CPORT_EINVAL; /* into itself */
	if (strcmp(from, to) == 0)
		return 0;
	struct simdisk_name *dst = simdisk_find(&d->live, to);
	if (dst) {
		if (dst->file->dir != src->file->dir)
			return dst->file->dir ? CPORT_EISDIR : CPORT_ENOTDIR;
		if (dst->file->dir && simdisk_has_children(d, to))
			return CPORT_ENOTEMPTY;
	}
	char *np = strdup(to);
	if (!np)
		return CPORT_ENOMEM;
	if (src->file->dir && simdisk_move_children(d, from, to) < 0) {
		free(np);
		return CPORT_ENOMEM;
	}
	free(src->path);
	src->path = np;
	if (dst)
		simdisk_remove(&d->live, dst);
	return 0;
}

int simdisk_rename2(struct cport_sim_disk *d, const char *from, const char *to, uint32_t flags)
{
	if (!(flags & CPORT_RENAME_EXCHANGE)) {
		if ((flags & CPORT_RENAME_NOREPLACE) && simdisk_find(&d->live, to))
			return simdisk_find(&d->live, from) ? CPORT_EEXIST : CPORT_ENOENT;
		return simdisk_rename(d, from, to);
	}
	struct simdisk_name *a = simdisk_find(&d->live, from), *b = simdisk_find(&d->live, to);
	if (!a || !b)
		return CPORT_ENOENT;
	if (a->file->dir || b->file->dir)
		return CPORT_ENOTSUP; /* the simulation swaps files only */
	struct simdisk_file *t = a->file;
	a->file = b->file;
	b->file = t;
	return 0;
}

int simdisk_unlink(struct cport_sim_disk *d, const char *path, bool dir)
{
	struct simdisk_name *nm = simdisk_find(&d->live, path);
	if (!nm)
		return path[0] ? CPORT_ENOENT : CPORT_EBUSY;
	if (nm->file->dir != dir)
		return dir ? CPORT_ENOTDIR : CPORT_EISDIR;
	if (dir && simdisk_has_children(d, path))
		return CPORT_ENOTEMPTY;
	simdisk_remove(&d->live, nm);
	return 0;
}

uint32_t simdisk_nlink(struct cport_sim_disk *d, const struct simdisk_file *f)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < d->live.n; i++)
		n += d->live.v[i].file == f;
	return f == d->root ? 1 : n;
}

/* ---- 4. The public calls: create, destroy, crash --------------------------------------- */

int cport_sim_disk_create(cport_sim_disk **disk)
{
	if (!disk)
		return CPORT_EINVAL;
	*disk = NULL;
	struct cport_sim_disk *d = calloc(1, sizeof *d);
	struct simdisk_file *root = calloc(1, sizeof *root);
	if (!d || !root) {
		free(d);
		free(root);
		return CPORT_ENOMEM;
	}
	root->dir = true;
	root->ino = ++d->next_ino;
	root->refs = 1;
	d->root = root;
	*disk = d;
	return 0;
}

static void simdisk_names_free(struct simdisk_names *v)
{
	while (v->n)
		simdisk_remove(v, &v->v[v->n - 1]);
	free(v->v);
	memset(v, 0, sizeof *v);
}

int cport_sim_disk_destroy(cport_sim_disk *disk)
{
	if (!disk)
		return 0;
	if (disk->users)
		return CPORT_EBUSY;
	simdisk_names_free(&disk->live);
	simdisk_names_free(&disk->durable);
	simdisk_unref(disk->root);
	free(disk);
	return 0;
}

static uint64_t simdisk_mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* CPORT_SIM_TEAR: the file's last write since its last good flush reached the platter
 * up to a seeded sector boundary inside it. */
static void simdisk_tear(struct simdisk_file *f, uint64_t *seed)
{
	if (f->ndirty == 0)
		return;
	struct simdisk_extent e = f->dirty[f->ndirty - 1];
	uint64_t end = e.off + e.len < f->size ? e.off + e.len : f->size;
	if (end <= e.off)
		return;
	uint64_t first = (e.off + 511) / 512 * 512, sectors = end > first ? (end - first) / 512 : 0;
	uint64_t cut = first + 512 * (simdisk_mix(seed) % (sectors + 1));
	if (cut > end || cut <= e.off)
		return; /* nothing of it survives */
	uint64_t dsize = f->dsize > cut ? f->dsize : cut;
	uint8_t *nd = realloc(f->dur, dsize);
	if (!nd)
		return;
	if (dsize > f->dsize)
		memset(nd + f->dsize, 0, dsize - f->dsize);
	memcpy(nd + e.off, f->data + e.off, cut - e.off);
	f->dur = nd;
	f->dsize = dsize;
}

/* The file as it was last made durable; true if that differs from what was seen. */
static bool simdisk_revert(struct simdisk_file *f)
{
	bool changed = f->size != f->dsize || f->ndirty > 0 ||
		       (f->dsize && memcmp(f->data, f->dur, f->dsize) != 0);
	f->size = 0;
	if (simdisk_grow(f, f->dsize) == 0) {
		if (f->dsize)
			memcpy(f->data, f->dur, f->dsize);
		f->size = f->dsize;
	}
	f->ndirty = 0;
	return changed;
}

int cport_sim_disk_crash(cport_sim_disk *disk, uint64_t seed, uint32_t flags)
{
	if (!disk || (flags & ~(uint32_t)CPORT_SIM_TEAR))
		return CPORT_EINVAL;
	if (disk->users)
		return CPORT_EBUSY;
	cport__sim_disk_closing(disk); /* descriptors on it die with the machine */
	uint64_t s = seed;
	int changed = 0;
	for (uint32_t i = 0; i < disk->live.n; i++) {
		struct simdisk_file *f = disk->live.v[i].file;
		if (flags & CPORT_SIM_TEAR)
			simdisk_tear(f, &s);
		changed += simdisk_revert(f);
	}
	/* The names: exactly the durable ones (a file only a durable name keeps was
	 * reverted through it). */
	for (uint32_t i = 0; i < disk->durable.n; i++) {
		struct simdisk_file *f = disk->durable.v[i].file;
		if (f->ndirty || f->size != f->dsize)
			changed += simdisk_revert(f);
	}
	simdisk_names_free(&disk->live);
	for (uint32_t i = 0; i < disk->durable.n; i++)
		if (simdisk_add(&disk->live, disk->durable.v[i].path, disk->durable.v[i].file) < 0)
			return CPORT_ENOMEM;
	return changed;
}
