/* SPDX-License-Identifier: MIT */
/* The record format of the write-ahead log example (wal.c), shared with its crash test. */
#ifndef WAL_FORMAT_H
#define WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A log is records back to back from offset 0 and nothing else: no file header, so an
 * empty file is an empty log. One record, integers little-endian:
 *
 *   offset  bytes  field
 *        0      4  len      payload bytes, 1..WAL_PAYLOAD_MAX
 *        4      4  crc      CRC32C of bytes 0..3 (len), 8..15 (seq) and the payload
 *        8      8  seq      sequence number: 1 for the first record, +1 for each next
 *       16    len  payload
 *
 * A record is valid when its len is in range, it lies wholly inside the file, its seq
 * follows its predecessor's and its CRC matches. The first record that is not valid
 * ends the log: recovery cuts the file there. What each check catches after a crash:
 *   - the CRC: a torn record, whose bytes reached the file only in part (the rest
 *     zeros, or whatever the blocks held before), and bits flipped on the way;
 *   - len in range: a torn or zeroed header (len 0), and a wild length that would
 *     send the scan far away;
 *   - seq: a record that is valid on its own but not the next one, such as an old
 *     record left beyond the end if a tail were ever not cut (the file handed over
 *     from elsewhere, a bug), which would otherwise come back to life.
 */
#define WAL_HDR 16u
#define WAL_PAYLOAD_MAX 512u
#define WAL_REC_MAX (WAL_HDR + WAL_PAYLOAD_MAX)

static inline void wal_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void wal_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t wal_get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t wal_get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* CRC32C (Castagnoli; the reflected polynomial 0x82F63B78, as in iSCSI, ext4 and
 * RocksDB), one table lookup per byte. The table is built on first use (a single-
 * threaded program; build it before starting threads otherwise). Check value: the
 * CRC of "123456789" is 0xE3069283. */
static uint32_t wal_crc_table[256];

static inline uint32_t wal_crc32c(uint32_t crc, const void *data, size_t n)
{
	if (wal_crc_table[1] == 0)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? c >> 1 ^ 0x82F63B78u : c >> 1;
			wal_crc_table[i] = c;
		}
	const unsigned char *p = data;
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = wal_crc_table[(crc ^ p[i]) & 0xff] ^ crc >> 8;
	return ~crc;
}

/* The CRC a record's header must carry: over len, seq and the payload. */
static inline uint32_t wal_rec_crc(const unsigned char *rec, uint32_t len)
{
	uint32_t crc = wal_crc32c(0, rec, 4);
	crc = wal_crc32c(crc, rec + 8, 8);
	return wal_crc32c(crc, rec + WAL_HDR, len);
}

/* Encode a record at `dst` (room for WAL_HDR + len bytes); returns its size. */
static inline size_t wal_rec_encode(unsigned char *dst, uint64_t seq, const void *payload,
				    uint32_t len)
{
	wal_put32(dst, len);
	wal_put64(dst + 8, seq);
	for (uint32_t i = 0; i < len; i++)
		dst[WAL_HDR + i] = ((const unsigned char *)payload)[i];
	wal_put32(dst + 4, wal_rec_crc(dst, len));
	return WAL_HDR + len;
}

/* From a record's first WAL_HDR bytes: the record's whole size, or 0 if its length
 * is out of range (the log ends there). */
static inline size_t wal_rec_size(const unsigned char *hdr)
{
	uint32_t len = wal_get32(hdr);
	return len >= 1 && len <= WAL_PAYLOAD_MAX ? WAL_HDR + len : 0;
}

/* Is the whole record at `rec` (wal_rec_size(rec) bytes) valid as record number `seq`? */
static inline bool wal_rec_valid(const unsigned char *rec, uint64_t seq)
{
	uint32_t len = wal_get32(rec);
	return wal_get64(rec + 8) == seq && wal_get32(rec + 4) == wal_rec_crc(rec, len);
}

/*
 * The example's payloads. A real log carries its callers' bytes; the example's
 * appenders write a payload made from the record's sequence number (its length and
 * every byte), so that a checker can tell each record holds exactly what was written,
 * not only that its CRC matches.
 */
static inline uint64_t wal_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull; /* splitmix64's step and finaliser */
	x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ x >> 27) * 0x94D049BB133111EBull;
	return x ^ x >> 31;
}

static inline uint32_t wal_demo_len(uint64_t seq)
{
	return 1 + (uint32_t)(wal_mix(seq) % WAL_PAYLOAD_MAX);
}

static inline void wal_demo_fill(uint64_t seq, unsigned char *p, uint32_t len)
{
	uint64_t x = seq;
	for (uint32_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = wal_mix(x);
		p[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
}

/* Does the valid record at `rec` hold the example's payload for its seq? */
static inline bool wal_demo_ok(const unsigned char *rec)
{
	uint64_t seq = wal_get64(rec + 8);
	uint32_t len = wal_get32(rec);
	unsigned char want[WAL_PAYLOAD_MAX];
	if (len != wal_demo_len(seq))
		return false;
	wal_demo_fill(seq, want, len);
	for (uint32_t i = 0; i < len; i++)
		if (rec[WAL_HDR + i] != want[i])
			return false;
	return true;
}

#endif /* WAL_FORMAT_H */
