/* savefile.c - a replay's classic pcap records, read in large blocks.
 *
 * libpcap reads a savefile with two stdio reads a packet (the 16-byte
 * record header, then the data) copied into a buffer of its own: about 330
 * instructions a packet on the mixed benchmark, a fourth of what a whole
 * replay cost (callgrind). Here the file is read a megabyte at a time with
 * pread, and each record is handed on where it lies in that buffer: about
 * 50 instructions a packet, a fourth of libpcap's time.
 *
 * Being faster must not make a replay different, so this reader hands on
 * only what libpcap would hand on unchanged, and leaves it everything else:
 *   - the file: classic pcap, version 2.4, the microsecond or nanosecond
 *     magic in either byte order, a regular file (a pipe's bytes could not
 *     be given back), a link type of those below. Older versions, patched
 *     formats and pcapng are libpcap's from the start;
 *   - each record: its captured length within the snapshot length libpcap
 *     settled on (longer ones libpcap cuts or refuses), its timestamp
 *     fields below 2^31 (how libpcap widens larger ones has changed between
 *     its versions).
 * At the first record it leaves, at the end of the file as read, or at a
 * read error, the reader stops and sets libpcap's stream at that record;
 * libpcap reads on from there, and says in its own words what it finds (a
 * truncated record, an impossible length). So the packets, their lengths
 * and times, and the replay's errors are libpcap's, whoever read them.
 *
 * Timestamps are those libpcap gives when asked for microseconds, as
 * capture.c asks: a nanosecond file's fraction divided by 1000. libpcap
 * rewrites some link headers of a byte-swapped file (USB, NFLOG, the CAN
 * frames in cooked headers); of the link types read here only the cooked
 * ones may hold such frames, and a byte-swapped file of those stays with
 * libpcap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "savefile.h"

#define FILE_HDR	24
#define REC_HDR		16
#define MAGIC_US	0xa1b2c3d4u
#define MAGIC_NS	0xa1b23c4du
/* Read at a time; holds the longest record any link type read here may
 * have (262144 bytes, libpcap's bound) with room to spare. */
#define BUF_SIZE	(1u << 20)

struct savefile {
	FILE *f;		/* libpcap's stream, given the rest at the end */
	int swap;		/* the file's byte order is not ours */
	int nsec;		/* nanosecond timestamps */
	int stopped;
	uint32_t snap;		/* libpcap's snapshot length */
	off_t off;		/* file offset of buf[0] */
	size_t pos;		/* next record at buf[pos] */
	size_t len;		/* buf holds len bytes */
	uint8_t *buf;
};

static uint32_t sf32(const struct savefile *s, const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return s->swap ? __builtin_bswap32(v) : v;
}

/* The link types whose frames libpcap hands over as the file holds them. */
static int savefile_link_ok(int dlt, int swap)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
		return !swap;
	}
	return 0;
}

/* The file header, read again: 0 when libpcap is to read the file alone. */
static int savefile_header(pcap_t *p, int fd, int *swap, int *nsec)
{
	uint8_t h[FILE_HDR];
	uint32_t magic;
	uint16_t major, minor;

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	memcpy(&magic, h, 4);
	*swap = magic != MAGIC_US && magic != MAGIC_NS;
	if (*swap)
		magic = __builtin_bswap32(magic);
	if (magic != MAGIC_US && magic != MAGIC_NS)
		return 0;
	*nsec = magic == MAGIC_NS;
	memcpy(&major, h + 4, 2);
	memcpy(&minor, h + 6, 2);
	if (*swap) {
		major = __builtin_bswap16(major);
		minor = __builtin_bswap16(minor);
	}
	/* libpcap read the same header: it must have understood it so. */
	return major == 2 && minor == 4 && pcap_major_version(p) == 2 &&
	       pcap_minor_version(p) == 4 && pcap_is_swapped(p) == *swap &&
	       savefile_link_ok(pcap_datalink(p), *swap);
}

int savefile_open(pcap_t *p, struct savefile **out)
{
	FILE *f = pcap_file(p);
	struct savefile *s;
	struct stat st;
	int swap, nsec, snap = pcap_snapshot(p);

	*out = NULL;
	if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    ftello(f) != FILE_HDR || snap <= 0 || snap > (int)(BUF_SIZE - REC_HDR) ||
	    !savefile_header(p, fileno(f), &swap, &nsec))
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return 0;
	if (!(s->buf = malloc(BUF_SIZE))) {
		free(s);
		return 0;
	}
	s->f = f;
	s->swap = swap;
	s->nsec = nsec;
	s->snap = (uint32_t)snap;
	s->off = FILE_HDR;
	*out = s;
	return 1;
}

/* Keeps the unread tail and reads on behind it: 0 at the end of the file
 * or on an error (both libpcap's to meet and say). */
static int savefile_fill(struct savefile *s)
{
	size_t tail = s->len - s->pos;
	ssize_t n;

	memmove(s->buf, s->buf + s->pos, tail);
	s->off += (off_t)s->pos;
	s->pos = 0;
	s->len = tail;
	do
		n = pread(fileno(s->f), s->buf + tail, BUF_SIZE - tail, s->off + (off_t)tail);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	s->len += (size_t)n;
	return 1;
}

/* Gives libpcap the rest, from the first record not handed on. */
static int savefile_stop(struct savefile *s)
{
	s->stopped = 1;
	return fseeko(s->f, s->off + (off_t)s->pos, SEEK_SET) < 0 ? -errno : 0;
}

int savefile_dispatch(struct savefile *s, int cnt, pcap_handler cb, u_char *user)
{
	struct pcap_pkthdr h;
	int n = 0;

	if (s->stopped)
		return 0;
	while (n < cnt) {
		const uint8_t *r = s->buf + s->pos;
		size_t have = s->len - s->pos;

		if (have >= REC_HDR) {
			uint32_t sec = sf32(s, r), frac = sf32(s, r + 4);

			h.caplen = sf32(s, r + 8);
			if (h.caplen > s->snap || (sec | frac) >> 31)
				break;
			if (have >= REC_HDR + h.caplen) {
				h.ts.tv_sec = (time_t)sec;
				h.ts.tv_usec = (suseconds_t)(s->nsec ? frac / 1000 : frac);
				h.len = sf32(s, r + 12);
				s->pos += REC_HDR + h.caplen;
				cb(user, &h, r + REC_HDR);
				n++;
				continue;
			}
		}
		if (!savefile_fill(s))
			break;
	}
	if (n < cnt) {
		int r = savefile_stop(s);

		if (r < 0)
			return r;
	}
	return n;
}

void savefile_close(struct savefile *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}
