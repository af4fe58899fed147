/* pcapng.c - the direction of each packet a pcapng file records.
 *
 * An enhanced packet block may carry epb_flags (option 2), whose two low
 * bits say whether the packet came in (01) or went out (10) of the
 * interface it was captured on; the obsolete packet block has the same
 * option. libpcap reads the blocks but does not hand the flags over, so a
 * replay of a pcapng file opens it a second time here and walks its blocks
 * in step with libpcap: each packet libpcap gives (an enhanced, simple or
 * obsolete packet block, in file order) is the next such block here.
 *
 * Walking in step is checked, not assumed: each packet's original length
 * must be the block's. At the first that is not (a libpcap that skipped a
 * block, a file cut short, a block this walker does not understand), the
 * direction is given up for the rest of the file, which then replays as a
 * capture without direction (flows still tell answers from questions), and
 * the report says so. The walker only reads: it never decides what a
 * packet is, so a malformed file can cost a replay its directions, never
 * its packets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decode.h"
#include "pcapng.h"

#define SHB		0x0a0d0d0au	/* section header block */
#define PB_OLD		0x00000002u	/* obsolete packet block */
#define SPB		0x00000003u	/* simple packet block */
#define EPB		0x00000006u	/* enhanced packet block */
#define BOM		0x1a2b3c4du
#define OPT_FLAGS	2		/* epb_flags, pack_flags */
#define BLOCK_MAX	(256u << 20)	/* a block larger than this: lost step */

struct pcapng_dir {
	FILE *f;
	int swap;		/* the section's byte order is not ours */
	int lost;
	uint64_t flagged;
};

static uint32_t ng32(const struct pcapng_dir *d, const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return d->swap ? __builtin_bswap32(v) : v;
}

static uint16_t ng16(const struct pcapng_dir *d, const uint8_t *b)
{
	uint16_t v;

	memcpy(&v, b, 2);
	return d->swap ? __builtin_bswap16(v) : v;
}

int pcapng_dir_open(const char *path, struct pcapng_dir **out)
{
	uint32_t type;	/* the SHB's reads the same in either byte order */
	struct pcapng_dir *d;
	struct stat st;
	FILE *f;

	*out = NULL;
	/* A second reader of a pipe or FIFO would take libpcap's bytes. */
	if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fopen(path, "rb")))
		return 0;
	if (fread(&type, 4, 1, f) != 1 || type != SHB || fseek(f, 0, SEEK_SET) < 0 ||
	    !(d = calloc(1, sizeof(*d)))) {
		fclose(f);
		return 0;
	}
	d->f = f;
	*out = d;
	return 1;
}

/* The section header at hand (its type read): learns its byte order and
 * skips the rest. */
static int read_shb(struct pcapng_dir *d, const uint8_t hdr[8])
{
	uint8_t bom[4];
	uint32_t v, len;

	if (fread(bom, 1, 4, d->f) != 4)
		return -1;
	memcpy(&v, bom, 4);
	if (v == BOM)
		d->swap = 0;
	else if (__builtin_bswap32(v) == BOM)
		d->swap = 1;
	else
		return -1;
	len = ng32(d, hdr + 4);
	if (len < 28 || len > BLOCK_MAX || len % 4)
		return -1;
	return fseek(d->f, (long)len - 12, SEEK_CUR);
}

/* The direction among the options in the next n bytes of a packet block,
 * which are then all read. */
static int read_options(struct pcapng_dir *d, uint32_t n, uint8_t *dir)
{
	uint8_t oh[4], val[4];

	while (n >= 4) {
		uint16_t code, len;
		uint32_t padded;

		if (fread(oh, 1, 4, d->f) != 4)
			return -1;
		n -= 4;
		code = ng16(d, oh);
		len = ng16(d, oh + 2);
		padded = (len + 3u) & ~3u;
		if (code == 0)
			break;
		if (padded > n)
			return -1;
		if (code == OPT_FLAGS && len == 4) {
			if (fread(val, 1, 4, d->f) != 4)
				return -1;
			switch (ng32(d, val) & 3) {
			case 1: *dir = PKT_DIR_IN; break;
			case 2: *dir = PKT_DIR_OUT; break;
			}
		} else if (fseek(d->f, (long)padded, SEEK_CUR) < 0) {
			return -1;
		}
		n -= padded;
	}
	return n && fseek(d->f, (long)n, SEEK_CUR) < 0 ? -1 : 0;
}

/* The next packet block: its original length and direction. */
static int next_packet(struct pcapng_dir *d, uint32_t *wirelen, uint8_t *dir)
{
	uint8_t hdr[8], fix[20];

	for (;;) {
		uint32_t type, len, fixed, cap, body;

		if (fread(hdr, 1, 8, d->f) != 8)
			return -1;
		memcpy(&type, hdr, 4);	/* the SHB's type reads the same either way */
		if (type == SHB) {
			if (read_shb(d, hdr) < 0)
				return -1;
			continue;
		}
		type = ng32(d, hdr);
		len = ng32(d, hdr + 4);
		if (len < 12 || len > BLOCK_MAX || len % 4)
			return -1;
		body = len - 12;
		if (type != EPB && type != PB_OLD && type != SPB) {
			if (fseek(d->f, (long)body + 4, SEEK_CUR) < 0)
				return -1;
			continue;
		}
		fixed = type == SPB ? 4 : 20;
		if (body < fixed || fread(fix, 1, fixed, d->f) != fixed)
			return -1;
		*dir = PKT_DIR_UNKNOWN;
		if (type == SPB) {
			*wirelen = ng32(d, fix);
			return fseek(d->f, (long)(body - fixed) + 4, SEEK_CUR);
		}
		cap = (ng32(d, fix + 12) + 3u) & ~3u;
		*wirelen = ng32(d, fix + 16);
		if (cap > body - fixed || fseek(d->f, (long)cap, SEEK_CUR) < 0 ||
		    read_options(d, body - fixed - cap, dir) < 0)
			return -1;
		return fseek(d->f, 4, SEEK_CUR);	/* the trailing length */
	}
}

uint8_t pcapng_dir_next(struct pcapng_dir *d, uint32_t wirelen)
{
	uint32_t len;
	uint8_t dir;

	if (d->lost)
		return PKT_DIR_UNKNOWN;
	if (next_packet(d, &len, &dir) < 0 || len != wirelen) {
		d->lost = 1;
		return PKT_DIR_UNKNOWN;
	}
	d->flagged += dir != PKT_DIR_UNKNOWN;
	return dir;
}

uint64_t pcapng_dir_flagged(const struct pcapng_dir *d)
{
	return d->flagged;
}

int pcapng_dir_lost(const struct pcapng_dir *d)
{
	return d->lost;
}

void pcapng_dir_close(struct pcapng_dir *d)
{
	if (!d)
		return;
	fclose(d->f);
	free(d);
}
