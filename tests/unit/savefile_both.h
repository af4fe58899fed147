/* savefile_both.h - a capture file read by libpcap alone, or as a replay
 * reads it (savefile.c while it will, then libpcap from where it stopped),
 * each record kept as a digest of its time, lengths and bytes: the two
 * readings test_savefile and fuzz_savefile compare. */
#ifndef DOSIPS_TEST_SAVEFILE_BOTH_H
#define DOSIPS_TEST_SAVEFILE_BOTH_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "savefile.h"

#define READING_MAX 8192
/* Records a round: few, and odd, so that stopping inside one is met. */
#define READING_ROUND 7

struct reading {
	int n;			/* records read */
	int ours;		/* of which savefile.c handed on */
	int took;		/* savefile.c took the file */
	int last;		/* pcap_dispatch's last return; 1: cut at the limit */
	char err[PCAP_ERRBUF_SIZE];
	uint64_t sum[READING_MAX];
};

static inline void reading_rec(u_char *user, const struct pcap_pkthdr *h, const u_char *b)
{
	struct reading *r = (struct reading *)user;
	uint64_t x = (uint64_t)h->ts.tv_sec * 1000003u ^ (uint64_t)h->ts.tv_usec << 20 ^
		     (uint64_t)h->caplen << 40 ^ h->len;

	for (uint32_t i = 0; i < h->caplen; i++)
		x = x * 1099511628211u ^ b[i];
	r->sum[r->n++] = x;
}

/* A round's count, never past limit records in all, so that two readings
 * cut at the limit stop at the same record. */
static inline int reading_round(const struct reading *r, int limit)
{
	return limit - r->n < READING_ROUND ? limit - r->n : READING_ROUND;
}

/* Reads path into r, savefile.c first if ours, at most limit records
 * (READING_MAX or fewer); 0 when libpcap refuses the file. */
static inline int reading_of(const char *path, int ours, int limit, struct reading *r)
{
	char err[PCAP_ERRBUF_SIZE];
	struct savefile *sf = NULL;
	pcap_t *p;

	memset(r, 0, sizeof(*r));
	if (!(p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO,
							  err)))
		return 0;
	if (ours) {
		r->took = savefile_open(p, &sf);
		if (r->took != (sf != NULL))
			abort();
	}
	if (sf) {
		int n = 0;

		while (r->n < limit &&
		       (n = savefile_dispatch(sf, reading_round(r, limit), reading_rec,
					      (u_char *)r)) > 0)
			;
		if (n < 0)
			abort();	/* libpcap's stream could not be set */
		r->ours = r->n;
		savefile_close(sf);
	}
	while (r->n < limit &&
	       (r->last = pcap_dispatch(p, reading_round(r, limit), reading_rec, (u_char *)r)) > 0)
		;
	if (r->n == limit)
		r->last = 1;	/* cut here, however it would have ended */
	else if (r->last < 0)
		snprintf(r->err, sizeof(r->err), "%s", pcap_geterr(p));
	pcap_close(p);
	return 1;
}

#endif
