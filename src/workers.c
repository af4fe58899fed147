/* workers.c - detection sharded by source over several capture threads.
 *
 * One core decides at a few hundred thousand packets a second; an edge link
 * brings millions. With `workers = N`, N capture handles on the interface
 * join one PACKET_FANOUT group whose classic-BPF program hashes the packet's
 * source, masked to the grouping prefixes (ipv4_prefix, ipv6_prefix), so
 * every packet of a source lands on the same worker. Each worker is a
 * thread with its own libev loop, capture and detect shard: its per-source
 * windows are exact and touch no lock.
 *
 * What is decided goes to the main loop, where mitigate, nft and the events
 * stay single-threaded: through a bounded single-producer ring of verdicts
 * per worker and an ev_async. A full verdict ring makes its worker wait
 * (the kernel's capture ring buffers meanwhile): a verdict is never lost.
 *
 * The ddos detector counts every source towards one destination, which no
 * shard sees whole. Each worker hands the packet's ddos share (destination,
 * time, class; only for sources that have not alerted, as detect does)
 * through a second ring to one ddos detector in the main loop, which counts
 * exactly what a single detect would. Shares are small and the detector
 * cheap; a full share ring drops shares, counted as ddos_lost.
 *
 * The busiest sources (the page, FlowSpec's measured rates) are the shards'
 * too: the main loop asks each worker with an ev_async, the worker reads
 * its own table in its thread (a few ms for a full one) and leaves its
 * lists beside its counters, and the main loop merges the last answers. A
 * source lives in one shard, so the merged lists are those one detect
 * would give, as of those answers.
 *
 * Replays (`-r`) are sharded too, by the same hash, in the caller's thread:
 * each batch is split by shard, each shard counts its part in order, the
 * ddos shares are counted in packet order, and the verdicts are handed on
 * sorted by their packet, so any `workers` gives the events of one. (Each
 * shard has the configured capacity: the same as long as none evicts.)
 *
 * The fanout program runs before the socket filter, on the packet as the
 * stack holds it; it loads the protocol from the skb (SKF_AD_PROTOCOL) and
 * the addresses relative to the network header (SKF_NET_OFF), which works
 * on received and sent packets alike whatever the link header. VLAN tags
 * are out of the way by then (the stack pops the outer one before taps see
 * the packet); a packet with an inner tag, or not IP, goes to worker 0.
 * While the workers join at start, packets are spread over fewer members.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "workers.h"

#define SHARD_MUL	0x9e3779b1u
#define VERDICT_RING	4096	/* verdicts per worker (a power of two) */
#define SHARE_RING	65536	/* ddos shares per worker (a power of two) */
#define SHARE_CHUNK	256	/* shares counted per call in the main loop */

/* A bounded single-producer single-consumer ring of fixed-size elements. */
struct spsc {
	_Atomic uint32_t head;		/* next to read: the consumer's */
	char pad0[60];
	_Atomic uint32_t tail;		/* next to write: the producer's */
	char pad1[60];
	uint32_t mask, esize;
	unsigned char *buf;
};

struct worker {
	struct workers *ws;
	unsigned idx;
	pthread_t thread;
	bool started;
	struct ev_loop *loop;
	ev_async stop;
	ev_timer tick;
	struct capture *cap;
	struct detect *det;
	struct spsc verdicts, shares;
	bool pushed;			/* something for the main loop this batch */
	struct worker_stats st;		/* the thread's own */
	ev_async top_ask;		/* the main loop wants the busiest sources */
	pthread_mutex_t lock;		/* guards the snapshots */
	struct worker_stats snap;
	struct capture_stats csnap;
	struct detect_top top[KIND_DDOS][8];	/* the shard's busiest, when asked */
	bool top_ok;			/* top was filled at least once */
	_Atomic int failed;
};

/* A verdict of a replayed batch, and where it goes in the order. */
struct rec {
	size_t idx;			/* its packet in the batch */
	unsigned ddos, seq;
	struct verdict v;
};

struct share {
	size_t idx;
	struct detect_dst_ev e;
};

struct workers {
	struct ev_loop *loop;
	unsigned n;
	uint8_t v4p, v6p;
	const struct detect_cfg *dc;	/* its local prefixes */
	detect_cb cb;
	void *ctx;
	capture_eof_cb eof;
	void *eof_ctx;
	bool eof_told;
	ev_async wake;
	struct detect *ddos;		/* NULL when ddos is off */
	struct sock_filter prog[WORKERS_PROG_MAX];
	struct sock_fprog fprog;
	/* replay */
	struct pkt *sub;		/* n shards of cap packets */
	size_t *map;			/* their indices in the batch */
	size_t *cnt, cap;
	struct rec *rec;		/* cap * KIND__MAX */
	size_t nrec;
	struct share *sh;		/* cap */
	size_t nsh;
	size_t cur, cur_shard;
	unsigned seq;
	struct worker w[];
};

/* ---- the shard of a source ---- */

static uint32_t word_mask(int bits)
{
	return bits <= 0 ? 0 : bits >= 32 ? UINT32_MAX : UINT32_MAX << (32 - bits);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

unsigned workers_shard(const struct ip_addr *src, unsigned n, uint8_t v4_prefix,
		       uint8_t v6_prefix)
{
	uint32_t h = 0;

	if (addr_is_v4(src)) {
		h = (be32(src->b + 12) & word_mask(v4_prefix)) * SHARD_MUL;
	} else {
		for (int i = 0; i < 4; i++)
			h = (h ^ (be32(src->b + 4 * i) & word_mask(v6_prefix - 32 * i))) *
			    SHARD_MUL;
	}
	h ^= h >> 16;
	return n ? h % n : 0;
}

/* True when a is in one of the local prefixes of dc. */
static bool shard_local(const struct detect_cfg *dc, const struct ip_addr *a)
{
	for (unsigned i = 0; i < dc->nlocal; i++)
		if (prefix_contains(&dc->local[i], a))
			return true;
	return false;
}

/* A replayed packet's shard: that of its remote end, so that a flow's two
 * directions meet in one shard (detect's flow memory needs the host's
 * answers): the destination of a packet the host sent (by its direction or
 * the local prefixes), else the source; with nothing to tell, the lower of
 * both ends' shards, the same both ways. */
static size_t replay_shard(const struct workers *ws, const struct pkt *p)
{
	size_t s = workers_shard(&p->src, ws->n, ws->v4p, ws->v6p), d;

	if (p->dir == PKT_DIR_IN)
		return s;
	d = workers_shard(&p->dst, ws->n, ws->v4p, ws->v6p);
	if (p->dir == PKT_DIR_OUT)
		return d;
	if (ws->dc->nlocal)
		return shard_local(ws->dc, &p->src) ? d : s;
	return s < d ? s : d;
}

/* The same hash in classic BPF: h = ((h ^ word) * MUL) over the masked
 * source words, h ^ h >> 16, which the kernel takes modulo the members. */
/* The masked address at offset off of the network header, hashed as
 * workers_shard does, into A (and X between words). */
static unsigned prog_addr(struct sock_filter *f, unsigned k, int v6, unsigned off,
			  uint8_t v4_prefix, uint8_t v6_prefix)
{
	for (int i = 0; i < (v6 ? 4 : 1); i++) {
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						      (uint32_t)(SKF_NET_OFF + off + 4 * i));
		f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K,
						      v6 ? word_mask(v6_prefix - 32 * i)
							 : word_mask(v4_prefix));
		if (i)
			f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, SHARD_MUL);
		if (v6 && i < 3)
			f[k++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
	}
	return k;
}

/* The shard of a packet's remote end: the source of one received, the
 * destination of one this host sends (PACKET_OUTGOING), so that both
 * directions of a flow meet in one worker (detect's flow memory needs the
 * host's answers). Jumps are patched once their targets are known. */
unsigned workers_fanout_prog(uint8_t v4_prefix, uint8_t v6_prefix, struct sock_filter *f)
{
	unsigned k = 0, j_v4, j_v6, j_out[2], j_fin[3], fam[2];

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
	j_v4 = k;
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 0);
	j_v6 = k;
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 0);
	for (int v6 = 0; v6 < 2; v6++) {
		fam[v6] = k;
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						      SKF_AD_OFF + SKF_AD_PKTTYPE);
		j_out[v6] = k;
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 0);
		k = prog_addr(f, k, v6, v6 ? 8 : 12, v4_prefix, v6_prefix);
		j_fin[2 * v6] = k;
		f[k++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
		f[j_out[v6]].jt = (uint8_t)(k - j_out[v6] - 1);
		k = prog_addr(f, k, v6, v6 ? 24 : 16, v4_prefix, v6_prefix);
		if (!v6) {
			j_fin[1] = k;
			f[k++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
		}
	}
	/* FIN */
	f[j_fin[0]].k = k - j_fin[0] - 1;
	f[j_fin[1]].k = k - j_fin[1] - 1;
	f[j_fin[2]].k = k - j_fin[2] - 1;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	/* OTHER */
	f[j_v4].jt = (uint8_t)(fam[0] - j_v4 - 1);
	f[j_v6].jt = (uint8_t)(fam[1] - j_v6 - 1);
	f[j_v6].jf = (uint8_t)(k - j_v6 - 1);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	return k;
}

unsigned workers_auto(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

/* ---- rings ---- */

static int spsc_init(struct spsc *q, uint32_t size, uint32_t esize)
{
	q->mask = size - 1;
	q->esize = esize;
	q->buf = malloc((size_t)size * esize);
	return q->buf ? 0 : -ENOMEM;
}

static bool spsc_push(struct spsc *q, const void *e)
{
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (t - atomic_load_explicit(&q->head, memory_order_acquire) > q->mask)
		return false;
	memcpy(q->buf + (size_t)(t & q->mask) * q->esize, e, q->esize);
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return true;
}

/* Copies up to max elements out; returns how many. */
static uint32_t spsc_pop(struct spsc *q, void *out, uint32_t max)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
	uint32_t k = 0;

	for (; h + k != t && k < max; k++)
		memcpy((unsigned char *)out + (size_t)k * q->esize,
		       q->buf + (size_t)((h + k) & q->mask) * q->esize, q->esize);
	atomic_store_explicit(&q->head, h + k, memory_order_release);
	return k;
}

/* ---- a worker's thread ---- */

static void worker_verdict(const struct verdict *v, void *ctx)
{
	struct worker *w = ctx;
	struct verdict c = *v;

	c.pkt = NULL;
	w->st.verdicts++;
	w->pushed = true;
	if (spsc_push(&w->verdicts, &c))
		return;
	/* The main loop is behind: wait for it rather than lose a verdict. */
	w->st.ring_waits++;
	do {
		ev_async_send(w->ws->loop, &w->ws->wake);
		sched_yield();
	} while (!spsc_push(&w->verdicts, &c));
}

static void worker_share(const struct detect_dst_ev *e, const struct pkt *p, void *ctx)
{
	struct worker *w = ctx;

	if (spsc_push(&w->shares, e))
		w->pushed = true;
	else
		w->st.ddos_lost++;
}

static void worker_packets(const struct pkt *p, size_t n, void *ctx)
{
	struct worker *w = ctx;

	w->st.packets += n;
	detect_batch(w->det, p, n);
	if (w->pushed) {
		w->pushed = false;
		ev_async_send(w->ws->loop, &w->ws->wake);
	}
}

static void worker_eof(void *ctx)
{
	struct worker *w = ctx;

	atomic_store(&w->failed, 1);
	ev_async_send(w->ws->loop, &w->ws->wake);
	ev_break(w->loop, EVBREAK_ALL);
}

/* Copies the thread's counters where other threads may read them. */
static void worker_publish(struct worker *w)
{
	struct capture_stats cs;
	struct timespec ts;

	capture_get_stats(w->cap, &cs);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	w->st.busy_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	w->st.kernel_recv = cs.kernel_recv;
	w->st.kernel_drop = cs.kernel_drop;
	pthread_mutex_lock(&w->lock);
	w->snap = w->st;
	w->csnap = cs;
	pthread_mutex_unlock(&w->lock);
}

static void worker_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	worker_publish(t->data);
}

/* The shard is this thread's alone, so its busiest sources are read here,
 * when the main loop asks, and left beside the counters for it. */
static void worker_top(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	struct detect_top top[KIND_DDOS][8];

	detect_top_sources(w->det, top, 8);
	pthread_mutex_lock(&w->lock);
	memcpy(w->top, top, sizeof(top));
	w->top_ok = true;
	pthread_mutex_unlock(&w->lock);
}

static void worker_stop(struct ev_loop *loop, ev_async *a, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);	/* signals are the main loop's */
	ev_run(w->loop, 0);
	worker_publish(w);
	return NULL;
}

/* ---- the main loop's side ---- */

static void drain_shares(struct workers *ws, struct worker *w)
{
	struct detect_dst_ev e[SHARE_CHUNK];
	uint32_t k;

	while ((k = spsc_pop(&w->shares, e, SHARE_CHUNK)) > 0)
		if (ws->ddos)
			detect_dst_events(ws->ddos, e, k);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	struct workers *ws = a->data;
	struct verdict v;

	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		while (spsc_pop(&w->verdicts, &v, 1))
			ws->cb(&v, ws->ctx);
		drain_shares(ws, w);
		if (atomic_load(&w->failed) && !ws->eof_told) {
			ws->eof_told = true;
			if (ws->eof)
				ws->eof(ws->eof_ctx);
		}
	}
}

/* ---- set-up ---- */

static void replay_verdict(const struct verdict *v, void *ctx);
static void replay_ddos(const struct verdict *v, void *ctx);
static void replay_share(const struct detect_dst_ev *e, const struct pkt *p, void *ctx);

static int worker_open(struct workers *ws, struct worker *w, const struct workers_cfg *cfg,
		       const struct detect_cfg *dc, char *err, size_t errlen)
{
	struct capture_cfg cc;
	int r;

	bool live = cfg->cap != NULL;

	pthread_mutex_init(&w->lock, NULL);
	if ((r = detect_new(dc, live ? worker_verdict : replay_verdict, live ? (void *)w : ws,
			    &w->det)) < 0) {
		snprintf(err, errlen, "worker %u: detection: %s", w->idx, strerror(-r));
		return r;
	}
	if (ws->ddos)
		detect_set_dst_sink(w->det, live ? worker_share : replay_share, w);
	if (!live)
		return 0;
	if (spsc_init(&w->verdicts, VERDICT_RING, sizeof(struct verdict)) < 0 ||
	    spsc_init(&w->shares, SHARE_RING, sizeof(struct detect_dst_ev)) < 0 ||
	    !(w->loop = ev_loop_new(EVFLAG_AUTO)))
		return snprintf(err, errlen, "worker %u: out of memory", w->idx), -ENOMEM;
	cc = *cfg->cap;
	cc.fanout_prog = &ws->fprog;
	cc.fanout_id = (uint16_t)getpid();
	if ((r = capture_open(w->loop, &cc, worker_packets, worker_eof, w, &w->cap, err,
			      errlen)) < 0)
		return r;
	ev_async_init(&w->stop, worker_stop);
	ev_async_start(w->loop, &w->stop);
	ev_async_init(&w->top_ask, worker_top);
	w->top_ask.data = w;
	ev_async_start(w->loop, &w->top_ask);
	ev_timer_init(&w->tick, worker_tick, 1., 1.);
	w->tick.data = w;
	ev_timer_start(w->loop, &w->tick);
	return 0;
}

/* The shards count no ddos; one detector of ddos alone counts their shares. */
static int shards_cfg(struct workers *ws, const struct workers_cfg *cfg,
		      struct detect_cfg *shard, char *err, size_t errlen)
{
	struct detect_cfg dd = *cfg->det;
	int r;

	*shard = *cfg->det;
	shard->det[KIND_DDOS].enabled = false;
	if (!cfg->det->det[KIND_DDOS].enabled)
		return 0;
	for (int k = 0; k < KIND__MAX; k++)
		dd.det[k].enabled = k == KIND_DDOS;
	if ((r = detect_new(&dd, cfg->cap ? ws->cb : replay_ddos, cfg->cap ? ws->ctx : ws,
			    &ws->ddos)) < 0)
		snprintf(err, errlen, "ddos detection: %s", strerror(-r));
	return r;
}

int workers_new(struct ev_loop *loop, const struct workers_cfg *cfg, detect_cb cb,
		void *ctx, capture_eof_cb eof, void *eof_ctx, struct workers **out, char *err,
		size_t errlen)
{
	struct workers *ws;
	struct detect_cfg shard;
	int r = -EINVAL;

	*out = NULL;
	if (cfg->n < 2 || cfg->n > WORKERS_MAX)
		return snprintf(err, errlen, "workers: 2 to %d", WORKERS_MAX), -EINVAL;
	if (!(ws = calloc(1, sizeof(*ws) + cfg->n * sizeof(ws->w[0]))))
		return -ENOMEM;
	ws->loop = loop;
	ws->n = cfg->n;
	ws->cb = cb;
	ws->ctx = ctx;
	ws->eof = eof;
	ws->eof_ctx = eof_ctx;
	ws->v4p = cfg->det->v4_prefix;
	ws->v6p = cfg->det->v6_prefix;
	ws->dc = cfg->det;
	ws->fprog.len = (unsigned short)workers_fanout_prog(ws->v4p, ws->v6p, ws->prog);
	ws->fprog.filter = ws->prog;
	ev_async_init(&ws->wake, on_wake);
	ws->wake.data = ws;
	if ((r = shards_cfg(ws, cfg, &shard, err, errlen)) < 0)
		goto fail;
	/* Members join in order: worker i is the fanout's member i. */
	for (unsigned i = 0; i < cfg->n; i++) {
		ws->w[i].ws = ws;
		ws->w[i].idx = i;
		if ((r = worker_open(ws, &ws->w[i], cfg, &shard, err, errlen)) < 0)
			goto fail;
	}
	if (cfg->cap)
		ev_async_start(loop, &ws->wake);
	*out = ws;
	return 0;
fail:
	workers_free(ws);
	return r;
}

int workers_start(struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		int r;

		if (!w->cap)
			continue;
		if ((r = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
			return -r;
		w->started = true;
	}
	return 0;
}

/* ---- replay: shards in this thread, verdicts in packet order ---- */

/* A packet gives at most one verdict per kind: the batch's room is ample. */
static void rec_add(struct workers *ws, size_t idx, unsigned ddos, const struct verdict *v)
{
	if (ws->nrec == ws->cap * KIND__MAX)
		return;
	ws->rec[ws->nrec++] = (struct rec){ .idx = idx, .ddos = ddos, .seq = ws->seq++, .v = *v };
}

static void replay_verdict(const struct verdict *v, void *ctx)
{
	struct workers *ws = ctx;
	const struct pkt *base = ws->sub + ws->cur_shard * ws->cap;

	ws->w[ws->cur_shard].st.verdicts++;
	rec_add(ws, ws->map[ws->cur_shard * ws->cap + (size_t)(v->pkt - base)], 0, v);
}

static void replay_ddos(const struct verdict *v, void *ctx)
{
	struct workers *ws = ctx;

	rec_add(ws, ws->cur, 1, v);
}

static void replay_share(const struct detect_dst_ev *e, const struct pkt *p, void *ctx)
{
	struct workers *ws = ((struct worker *)ctx)->ws;
	const struct pkt *base = ws->sub + ws->cur_shard * ws->cap;

	ws->sh[ws->nsh++] = (struct share){
		.idx = ws->map[ws->cur_shard * ws->cap + (size_t)(p - base)], .e = *e,
	};
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	if (x->ddos != y->ddos)
		return x->ddos < y->ddos ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int share_cmp(const void *a, const void *b)
{
	const struct share *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Splits p by shard into ws->sub; 0 or -ENOMEM. */
static int replay_split(struct workers *ws, const struct pkt *p, size_t n)
{
	if (n > ws->cap) {
		free(ws->sub);
		free(ws->map);
		free(ws->cnt);
		free(ws->rec);
		free(ws->sh);
		ws->cap = n;
		ws->sub = malloc(ws->n * n * sizeof(*ws->sub));
		ws->map = malloc(ws->n * n * sizeof(*ws->map));
		ws->cnt = malloc(ws->n * sizeof(*ws->cnt));
		ws->rec = malloc(n * KIND__MAX * sizeof(*ws->rec));
		ws->sh = malloc(n * sizeof(*ws->sh));	/* one share a packet at most */
		if (!ws->sub || !ws->map || !ws->cnt || !ws->rec || !ws->sh) {
			ws->cap = 0;
			return -ENOMEM;
		}
	}
	memset(ws->cnt, 0, ws->n * sizeof(*ws->cnt));
	for (size_t i = 0; i < n; i++) {
		size_t s = replay_shard(ws, &p[i]);
		size_t k = s * ws->cap + ws->cnt[s]++;

		ws->sub[k] = p[i];
		ws->map[k] = i;
	}
	return 0;
}

void workers_feed(struct workers *ws, const struct pkt *p, size_t n)
{
	if (replay_split(ws, p, n) < 0) {
		log_err("replay: out of memory: %zu packets not counted", n);
		return;
	}
	ws->nrec = ws->nsh = 0;
	ws->seq = 0;
	for (unsigned s = 0; s < ws->n; s++) {
		ws->cur_shard = s;
		ws->w[s].st.packets += ws->cnt[s];
		detect_batch(ws->w[s].det, ws->sub + s * ws->cap, ws->cnt[s]);
	}
	qsort(ws->sh, ws->nsh, sizeof(*ws->sh), share_cmp);
	for (size_t i = 0; i < ws->nsh; i++) {
		ws->cur = ws->sh[i].idx;
		detect_dst_events(ws->ddos, &ws->sh[i].e, 1);
	}
	qsort(ws->rec, ws->nrec, sizeof(*ws->rec), rec_cmp);
	for (size_t i = 0; i < ws->nrec; i++) {
		ws->rec[i].v.pkt = &p[ws->rec[i].idx];
		ws->cb(&ws->rec[i].v, ws->ctx);
	}
}

/* ---- counters ---- */

unsigned workers_count(const struct workers *ws)
{
	return ws->n;
}

int workers_failed(const struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++)
		if (atomic_load(&ws->w[i].failed))
			return 1;
	return 0;
}

void workers_worker_stats(struct workers *ws, unsigned i, struct worker_stats *st)
{
	struct worker *w = &ws->w[i];

	if (!w->cap) {
		*st = w->st;
		return;
	}
	pthread_mutex_lock(&w->lock);
	*st = w->snap;
	pthread_mutex_unlock(&w->lock);
}

static void add_u64(uint64_t *a, const uint64_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] += b[i];
}

void workers_capture_stats(struct workers *ws, struct capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		struct capture_stats cs;

		if (!w->cap)
			continue;
		pthread_mutex_lock(&w->lock);
		cs = w->csnap;
		pthread_mutex_unlock(&w->lock);
		st->frames += cs.frames;
		st->bytes += cs.bytes;
		add_u64(st->decoded, cs.decoded, DEC__MAX);
		st->tcp += cs.tcp, st->udp += cs.udp, st->icmp += cs.icmp;
		st->icmp6 += cs.icmp6, st->other += cs.other;
		st->ipv4 += cs.ipv4, st->ipv6 += cs.ipv6, st->frags += cs.frags;
		st->kernel_recv += cs.kernel_recv, st->kernel_drop += cs.kernel_drop;
		st->iface_drop += cs.iface_drop, st->reads += cs.reads;
		add_u64(st->proto_bytes, cs.proto_bytes, 5);
		st->have_kernel |= cs.have_kernel;
	}
}

bool workers_top_sources(struct workers *ws, struct detect_top top[][8], size_t n)
{
	struct detect_top part[KIND_DDOS][8];
	bool all = true;

	memset(top, 0, KIND_DDOS * sizeof(top[0]));
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		bool ok = true;

		if (!w->started) {	/* a replay's shard, or no thread running it */
			detect_top_sources(w->det, part, 8);
		} else {
			pthread_mutex_lock(&w->lock);
			memcpy(part, w->top, sizeof(part));
			ok = w->top_ok;
			pthread_mutex_unlock(&w->lock);
			ev_async_send(w->loop, &w->top_ask);
		}
		if (ok)
			detect_top_merge(top, part, n);
		all &= ok;
	}
	return all;
}

/* The shards' counters are read without a lock: from another thread they
 * may be a little stale, never torn on this platform (aligned 64-bit). */
void workers_detect_stats(struct workers *ws, struct detect_stats *st)
{
	struct detect_stats ds;

	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < ws->n; i++) {
		detect_get_stats(ws->w[i].det, &ds);
		add_u64((uint64_t *)st, (const uint64_t *)&ds, sizeof(ds) / sizeof(uint64_t));
	}
	if (ws->ddos) {
		detect_get_stats(ws->ddos, &ds);
		st->alerts[KIND_DDOS] += ds.alerts[KIND_DDOS];
		st->dst_tracked = ds.dst_tracked;
		st->dst_evictions = ds.dst_evictions;
		st->ring_reclaims += ds.ring_reclaims;
		st->ring_denied += ds.ring_denied;
		st->suppressed += ds.suppressed;
	}
}

void workers_stop(struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		if (w->started) {
			ev_async_send(w->loop, &w->stop);
			pthread_join(w->thread, NULL);
			w->started = false;
		}
	}
	if (ev_is_active(&ws->wake)) {
		on_wake(ws->loop, &ws->wake, 0);	/* what was decided last */
		ev_async_stop(ws->loop, &ws->wake);
	}
}

const char *workers_error(const struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++)
		if (atomic_load(&ws->w[i].failed))
			return capture_error(ws->w[i].cap);
	return "";
}

const char *workers_link_name(const struct workers *ws)
{
	return ws->w[0].cap ? capture_link_name(ws->w[0].cap) : "none";
}

void workers_free(struct workers *ws)
{
	if (!ws)
		return;
	workers_stop(ws);
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		capture_close(w->cap);
		if (w->loop)
			ev_loop_destroy(w->loop);
		detect_free(w->det);
		free(w->verdicts.buf);
		free(w->shares.buf);
		pthread_mutex_destroy(&w->lock);
	}
	detect_free(ws->ddos);
	free(ws->sub);
	free(ws->map);
	free(ws->cnt);
	free(ws->rec);
	free(ws->sh);
	free(ws);
}
