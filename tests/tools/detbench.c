/* detbench.c - decode and detect alone, each timed over a capture file's
 * frames held in memory a chunk at a time, so that neither the read loop
 * nor the other stage is in the figure.
 *
 *   detbench [-v] [-c] [-s SEED] [-b BATCH] [-k CAPACITY] [-P POOL] FILE
 *
 * Prints packets, ns per packet for decode and for detect, and detect's
 * counters. -v also prints every verdict, one line each: two builds of
 * detect.c given the same seed (default 1) must print the same lines.
 * -b feeds detect_batch BATCH packets at a time (default 1024, as capture
 * does); -b 1 calls detect_packet for each. -k and -P set the source
 * capacity and every ring pool's size: small ones drive the eviction and
 * reclaim paths hard. -c prints each chunk's detect time ("chunk I NS"):
 * the least of several runs, chunk by chunk, is a figure that a busy
 * machine disturbs much less than a whole run's.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "detect.h"

#define CHUNK		65536		/* frames per timed chunk */
#define CHUNK_BYTES	(16u << 20)	/* their bytes */

struct frame {
	uint32_t off, caplen, len;
	uint64_t ts_us;
};

struct bench {
	int dlt;
	uint8_t *buf;
	size_t used;
	struct frame *fr;
	size_t nfr;
	struct pkt *pkt;
	unsigned batch;
	int verbose, chunks;
	uint64_t nchunk;
	uint64_t packets, frames, dec_ns, det_ns;
	struct detect *d;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_verdict(const struct verdict *v, void *ctx)
{
	struct bench *b = ctx;
	char src[ADDR_STRLEN], dst[ADDR_STRLEN];

	if (!b->verbose)
		return;
	if (v->kind == KIND_DDOS)
		snprintf(src, sizeof(src), "-");
	else
		prefix_fmt(&v->src, src);
	printf("%s %s %s %" PRIu64 " %u/%u %u\n", detect_kind_name(v->kind), src,
	       addr_fmt(&v->dst, dst), v->ts_us, v->count, v->threshold, v->proto);
}

/* Decodes then detects the frames held, timing each stage. */
static void run_chunk(struct bench *b)
{
	uint64_t t0, t1, t2;
	size_t n = 0;

	t0 = now_ns();
	for (size_t i = 0; i < b->nfr; i++) {
		const struct frame *f = &b->fr[i];

		if (decode_packet(b->dlt, b->buf + f->off, f->caplen, f->len, f->ts_us,
				  &b->pkt[n]) == DEC_OK)
			n++;
	}
	t1 = now_ns();
	if (b->batch == 1) {
		for (size_t i = 0; i < n; i++)
			detect_packet(b->d, &b->pkt[i]);
	} else {
		for (size_t i = 0; i < n; i += b->batch)
			detect_batch(b->d, &b->pkt[i], n - i < b->batch ? n - i : b->batch);
	}
	t2 = now_ns();
	if (b->chunks)
		printf("chunk %" PRIu64 " %" PRIu64 "\n", b->nchunk++, t2 - t1);
	b->dec_ns += t1 - t0;
	b->det_ns += t2 - t1;
	b->frames += b->nfr;
	b->packets += n;
	b->nfr = 0;
	b->used = 0;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct bench *b = (struct bench *)user;
	struct frame *f;

	if (b->nfr == CHUNK || b->used + h->caplen > CHUNK_BYTES)
		run_chunk(b);
	if (h->caplen > CHUNK_BYTES)
		return;
	f = &b->fr[b->nfr++];
	f->off = (uint32_t)b->used;
	f->caplen = h->caplen;
	f->len = h->len;
	f->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
	memcpy(b->buf + b->used, bytes, h->caplen);
	b->used += h->caplen;
}

static void print_stats(const struct bench *b)
{
	struct detect_stats st;

	detect_get_stats(b->d, &st);
	printf("packets=%" PRIu64 " frames=%" PRIu64 " decode_ns=%.1f detect_ns=%.1f\n",
	       b->packets, b->frames, b->packets ? (double)b->dec_ns / b->packets : 0.0,
	       b->packets ? (double)b->det_ns / b->packets : 0.0);
	printf("alerts");
	for (int k = 0; k < KIND__MAX; k++)
		printf(" %s=%" PRIu64, detect_kind_name(k), st.alerts[k]);
	printf("\ntracked=%" PRIu64 " evictions=%" PRIu64 " dst_tracked=%" PRIu64
	       " dst_evictions=%" PRIu64 " ring_reclaims=%" PRIu64 " ring_denied=%" PRIu64
	       " suppressed=%" PRIu64 "\n", st.tracked, st.evictions, st.dst_tracked,
	       st.dst_evictions, st.ring_reclaims, st.ring_denied, st.suppressed);
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct bench b = { .batch = 1024 };
	struct detect_cfg cfg;
	pcap_t *p;
	int c, r;

	detect_cfg_defaults(&cfg);
	cfg.seed = 1;
	while ((c = getopt(argc, argv, "vcs:b:k:P:")) != -1) {
		switch (c) {
		case 'v': b.verbose = 1; break;
		case 'c': b.chunks = 1; break;
		case 's': cfg.seed = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': b.batch = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'k': cfg.capacity = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'P':
			for (int k = 0; k < KIND__MAX; k++)
				cfg.pool[k] = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || b.batch == 0)
		goto usage;
	if (!(p = pcap_open_offline(argv[optind], err))) {
		fprintf(stderr, "detbench: %s\n", err);
		return 1;
	}
	b.dlt = pcap_datalink(p);
	b.buf = malloc(CHUNK_BYTES);
	b.fr = malloc(CHUNK * sizeof(*b.fr));
	b.pkt = malloc(CHUNK * sizeof(*b.pkt));
	if (!b.buf || !b.fr || !b.pkt || detect_new(&cfg, on_verdict, &b, &b.d) < 0) {
		fprintf(stderr, "detbench: out of memory or a bad -k or -P\n");
		return 1;
	}
	while ((r = pcap_dispatch(p, 4096, on_frame, (u_char *)&b)) > 0)
		;
	if (r < 0)
		fprintf(stderr, "detbench: %s\n", pcap_geterr(p));
	run_chunk(&b);
	print_stats(&b);
	detect_free(b.d);
	pcap_close(p);
	free(b.buf);
	free(b.fr);
	free(b.pkt);
	return r < 0;
usage:
	fprintf(stderr, "usage: detbench [-v] [-c] [-s SEED] [-b BATCH] [-k CAPACITY] [-P POOL] FILE\n");
	return 2;
}
