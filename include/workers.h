/* workers.h - detection sharded by source over several capture threads. */
#ifndef DOSIPS_WORKERS_H
#define DOSIPS_WORKERS_H

#include <ev.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "capture.h"
#include "detect.h"

#define WORKERS_MAX 64
/* Instructions of the fanout program at most. */
#define WORKERS_PROG_MAX 64

struct workers_cfg {
	unsigned n;                    /* shards, 2 to WORKERS_MAX */
	const struct detect_cfg *det;  /* each shard's; ddos runs once, in the caller's loop */
	const struct capture_cfg *cap; /* live interface; NULL: fed by workers_feed */
};

/* One worker's counters (live: as of its last second, or its end). */
struct worker_stats {
	uint64_t packets;      /* decoded packets it counted */
	uint64_t kernel_recv, kernel_drop;
	uint64_t busy_us;      /* CPU time of its thread */
	uint64_t verdicts;     /* handed to the main loop */
	uint64_t ring_waits;   /* times its verdict ring was full (it waited) */
	uint64_t ddos_lost;    /* ddos shares dropped: their ring was full */
};

struct workers;

/* Builds n shards calling cb(verdict, ctx) in the caller's loop; live, also
 * opens n capture handles in one fanout group (threads wait for
 * workers_start). eof(eof_ctx) is called there when a capture breaks.
 * -errno and a sentence in err. */
int workers_new(struct ev_loop *loop, const struct workers_cfg *cfg, detect_cb cb,
		void *ctx, capture_eof_cb eof, void *eof_ctx, struct workers **out, char *err,
		size_t errlen);

/* Live: starts the threads (after privileges are dropped). 0 or -errno. */
int workers_start(struct workers *w);

/* Replay: counts p[0..n-1] on their shards in this thread; the verdicts
 * come in the order one detect would give them. */
void workers_feed(struct workers *w, const struct pkt *p, size_t n);

unsigned workers_count(const struct workers *w);

/* Worker i's counters. */
void workers_worker_stats(struct workers *w, unsigned i, struct worker_stats *st);

/* The captures' counters summed (live), as capture_get_stats gives them. */
void workers_capture_stats(struct workers *w, struct capture_stats *st);

/* The shards' and the ddos detector's counters summed. */
void workers_detect_stats(struct workers *w, struct detect_stats *st);

/* Fills top like detect_top_sources, from every shard: a replay's (or a
 * stopped thread's) read at once; a running worker's as it last answered,
 * and each is asked again, so that the next call has its sources of now
 * (live, the lists lag by one call). False until every running worker has
 * answered once. */
bool workers_top_sources(struct workers *w, struct detect_top top[][8], size_t n);

/* True once a live capture broke. */
int workers_failed(const struct workers *w);

/* Stops and joins the threads and hands on their last verdicts; the
 * counters stay readable. */
void workers_stop(struct workers *w);

/* Why a live capture broke (capture_error of the first), or "". */
const char *workers_error(const struct workers *w);

/* The link type name of the live captures ("EN10MB", ...). */
const char *workers_link_name(const struct workers *w);

/* Stops (workers_stop) and frees everything; NULL is fine. */
void workers_free(struct workers *w);

/* The shard of source src among n: what the fanout program returns for
 * its packets, the addresses masked to the grouping prefixes. */
unsigned workers_shard(const struct ip_addr *src, unsigned n, uint8_t v4_prefix,
		       uint8_t v6_prefix);

/* Writes the fanout program (classic BPF) into insn[WORKERS_PROG_MAX];
 * returns its length. */
unsigned workers_fanout_prog(uint8_t v4_prefix, uint8_t v6_prefix, struct sock_filter *insn);

/* The cores this process may run on (workers = auto). */
unsigned workers_auto(void);

#endif
