/*
 * bgp.c - floods pushed upstream as BGP FlowSpec rules.
 *
 * A ban drops a flood at this host, after it has crossed the link. When the
 * flood alone is more than the operator wants on the link (upstream.pps), a
 * FlowSpec rule "source S/32 -> discard" (or rate-limit) announced to the
 * upstream router drops it there instead. We do not speak BGP: a local
 * gobgpd holds the session and we drive it with its own CLI, spawned
 * through child.c (asynchronous, no capabilities, a timeout), one process
 * per announcement or withdrawal.
 *
 * The rate is measured, not guessed from the ban's reason: the capture tap
 * sits before the ingress drop, so detect still counts a banned source's
 * packets in its rate_flood window, and detect_top_sources reads the busiest
 * sources of that window. Once a second, and every 50 ms for 1.5 s after
 * each ban (while the window fills: a rate is known only once pps packets
 * have come), the busiest sources above pps that are banned now, and overlap no whitelisted
 * or protected address, are announced, at most `max` at once. Only the
 * 8 busiest sources per measurement are seen; with workers > 1 each worker
 * reads its own shard when asked, and a measurement is their answers to the
 * previous one (workers_top_sources).
 *
 * An unban withdraws; a clean stop withdraws everything and waits for the
 * CLI. A failed spawn or a non-zero exit is counted, logged at most every
 * 10 s, and retried at the next tick. The table is a small array of `max`
 * slots: announcements are few by construction.
 *
 * The speaker's table is audited against ours: listed at start (retried
 * every 5 s until both families have answered) and every 30 s after
 * (`gobgp -j global rib -a ipv4-flowspec`, then ipv6). A route of our
 * shape, a source-only match with our action, that no slot holds is what a
 * kill -9, a crash or a power cut left: it becomes a slot as if we had
 * announced it, kept while its source is banned (bans survive a restart in
 * the kernel) and withdrawn at the next tick otherwise. Without this, the
 * rule of a ban that ended while we were down would drop an address at the
 * router for good. A slot announced before the listing began whose route
 * the listing lacks was lost by the speaker (gobgpd restarted): it is
 * announced again. Routes of any other shape are the operator's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgp.h"
#include "child.h"
#include "log.h"
#include "mitigate.h"
#include "whitelist.h"

#define BGP_TIMEOUT_MS 5000
#define BGP_ARGS 24
#define BGP_ARGBUF 512
#define BGP_SOON 0.05    /* after a ban: measure this often ... */
#define BGP_SOON_FOR 1.5 /* ... for this long (a window fills) */
#define BGP_SESSION_S 5. /* how often the session's state is asked */
#define BGP_RIB_MAX (4u << 20) /* a listing longer than this is given up */
#define BGP_AUDIT_MS 30000   /* the speaker's table listed this often ... */
#define BGP_LIST_RETRY_S 5.  /* ... and this often until it first answers */

enum slot_state { S_FREE, S_OFF, S_ADDING, S_ON, S_DELETING };

struct slot {
	struct ip_prefix src;
	enum slot_state st;
	bool want;           /* announced is the goal; false: withdraw */
	double on_since;     /* ev_now() when last S_ON */
	bool seen;           /* in the audit's listing of its family */
	struct child *ch;    /* the CLI in flight */
	struct bgp *b;
};

struct bgp {
	struct ev_loop *loop;
	struct bgp_cfg cfg;
	char speaker[256], api[128];
	struct mitigate *mit;
	struct whitelist *const *wl;
	bgp_top_fn top;
	void *top_ctx;
	ev_timer tick, soon;
	struct slot *slots;
	struct bgp_stats st;
	double logged_at;
	double soon_until;   /* ev_now() until which `soon` repeats */
	ev_timer ask;        /* `gobgp neighbor`, every BGP_SESSION_S */
	ev_io out;           /* its stdout, read as it comes */
	struct child *asking;
	char text[4096];
	size_t ntext;
	/* The audit of the speaker's table (see the top). */
	ev_timer list;       /* every 5 s until a round is done, then audit_ms */
	ev_io lout;
	struct child *listing;
	char *rib;
	size_t nrib, rib_cap;
	unsigned family;     /* 0: ipv4-flowspec, 1: ipv6-flowspec, 2: given up */
	double list_t0;      /* ev_now() when the listing began */
	bool list_eof, list_exited, list_ok, list_overflow;
	bool list_huge;      /* longer than BGP_RIB_MAX: not listed again */
	unsigned list_fails; /* failed listings in a row (the first is logged) */
};

int bgp_parse_action(const char *s, uint64_t *bps)
{
	char *end;
	unsigned long long v;

	if (strcmp(s, "discard") == 0) {
		*bps = 0;
		return 0;
	}
	if (strncmp(s, "rate-limit ", 11) != 0)
		return -EINVAL;
	s += 11;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*bps = v;
	return 0;
}

int bgp_parse_api(const char *api, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(api, ':'), *h = api;
	size_t hl;

	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	hl = (size_t)(colon - api);
	if (*h == '[') {
		if (hl < 2 || api[hl - 1] != ']')
			return -EINVAL;
		h++;
		hl -= 2;
	}
	if (!hl || hl >= hostlen || strlen(colon + 1) >= portlen || atoi(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

int bgp_argv(const struct bgp_cfg *cfg, const struct ip_prefix *src, bool add, char *buf,
	     size_t buflen, char **argv, size_t n)
{
	char host[128], port[8], a[ADDR_STRLEN], rate[24];
	bool v4 = addr_is_v4(&src->addr);
	const char *words[BGP_ARGS];
	size_t k = 0, used = 0;

	if (bgp_parse_api(cfg->api, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	snprintf(a, sizeof(a), "%s/%u", addr_fmt(&src->addr, (char[ADDR_STRLEN]){ 0 }),
		 prefix_family_len(src));
	snprintf(rate, sizeof(rate), "%" PRIu64, cfg->rate_bps);
	words[k++] = cfg->speaker;
	words[k++] = "-u"; words[k++] = host;
	words[k++] = "-p"; words[k++] = port;
	words[k++] = "global"; words[k++] = "rib";
	words[k++] = "-a"; words[k++] = v4 ? "ipv4-flowspec" : "ipv6-flowspec";
	words[k++] = add ? "add" : "del";
	words[k++] = "match"; words[k++] = "source"; words[k++] = a;
	words[k++] = "then";
	if (cfg->rate_bps) {
		words[k++] = "rate-limit";
		words[k++] = rate;
	} else {
		words[k++] = "discard";
	}
	if (k + 1 > n)
		return -ENOSPC;
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(words[i]) + 1;

		if (used + l > buflen)
			return -ENOSPC;
		argv[i] = memcpy(buf + used, words[i], l);
		used += l;
	}
	argv[k] = NULL;
	return (int)k;
}

size_t bgp_pick(const struct bgp_cfg *cfg, struct detect_top top[][8], size_t ntop,
		struct ip_prefix *out, size_t n)
{
	uint32_t win = cfg->window_ms ? cfg->window_ms : 1000;
	size_t k = 0;

	for (size_t i = 0; i < ntop && i < 8 && k < n; i++) {
		const struct detect_top *t = &top[KIND_RATE_FLOOD][i];

		if (t->count && (uint64_t)t->count * 1000 / win > cfg->pps)
			out[k++] = t->src;
	}
	return k;
}

static bool same(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->len == b->len && addr_eq(&a->addr, &b->addr);
}

static struct slot *slot_find(struct bgp *b, const struct ip_prefix *p)
{
	for (uint32_t i = 0; i < b->cfg.max; i++)
		if (b->slots[i].st != S_FREE && same(&b->slots[i].src, p))
			return &b->slots[i];
	return NULL;
}

/* A free slot, or NULL when all `max` are taken. */
static struct slot *slot_free(struct bgp *b)
{
	for (uint32_t i = 0; i < b->cfg.max; i++)
		if (b->slots[i].st == S_FREE)
			return &b->slots[i];
	return NULL;
}

static void fail(struct bgp *b, const char *what, const struct slot *s, const char *why)
{
	char a[ADDR_STRLEN];

	b->st.failed++;
	snprintf(b->st.last_error, sizeof(b->st.last_error), "%s %s: %s", what,
		 prefix_fmt(&s->src, a), why);
	if (ev_now(b->loop) - b->logged_at >= 10.0) {
		b->logged_at = ev_now(b->loop);
		log_warn("bgp: %s (retrying every second)", b->st.last_error);
	}
}

static void cli_done(struct child *c, int status, bool killed, void *ctx)
{
	struct slot *s = ctx;
	struct bgp *b = s->b;
	bool add = s->st == S_ADDING;
	char why[32];

	s->ch = NULL;
	if (status == 0 && !killed) {
		if (add) {
			s->st = S_ON;
			s->on_since = ev_now(b->loop);
			b->st.made++;
			b->st.active++;
		} else {
			s->st = S_FREE;
			b->st.withdrawn++;
			b->st.active--;
		}
		return;
	}
	snprintf(why, sizeof(why), killed ? "timed out" : "exit status %d", status);
	s->st = add ? S_OFF : S_ON;
	fail(b, add ? "announcing" : "withdrawing", s, why);
}

static void cli_start(struct bgp *b, struct slot *s, bool add)
{
	static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char buf[BGP_ARGBUF], *argv[BGP_ARGS];
	int r;

	if (bgp_argv(&b->cfg, &s->src, add, buf, sizeof(buf), argv, BGP_ARGS) < 0) {
		fail(b, add ? "announcing" : "withdrawing", s, "bad api address");
		return;
	}
	s->st = add ? S_ADDING : S_DELETING;
	r = child_start(b->loop, &(struct child_req){
		.argv = argv, .env = env, .timeout_ms = BGP_TIMEOUT_MS,
		.done = cli_done, .ctx = s }, &s->ch);
	if (r < 0) {
		s->st = add ? S_OFF : S_ON;
		s->ch = NULL;
		fail(b, add ? "announcing" : "withdrawing", s, strerror(-r));
	}
}

static bool eligible(struct bgp *b, const struct ip_prefix *p)
{
	struct ban_info bi;

	return mitigate_find(b->mit, p, &bi) == 0 && !(*b->wl && whitelist_overlaps(*b->wl, p));
}

static void want(struct bgp *b, const struct ip_prefix *p)
{
	struct slot *s = slot_find(b, p);

	if (!s) {
		if (!(s = slot_free(b))) {
			b->st.over_max++;
			return;
		}
		*s = (struct slot){ .src = *p, .st = S_OFF, .b = b };
	}
	s->want = true;
}

/* Sources to announce, then every slot brought towards its goal. */
static void measure(struct bgp *b)
{
	struct detect_top top[KIND__MAX][8];
	struct ip_prefix pick[8];
	size_t n = 0;

	if (b->top(top, 8, b->top_ctx))
		n = bgp_pick(&b->cfg, top, 8, pick, 8);
	for (size_t i = 0; i < n; i++)
		if (eligible(b, &pick[i]))
			want(b, &pick[i]);
	for (uint32_t i = 0; i < b->cfg.max; i++) {
		struct slot *s = &b->slots[i];

		if (s->st == S_FREE)
			continue;
		if (s->want && !eligible(b, &s->src))
			s->want = false;     /* an unban we missed, or now whitelisted */
		if (s->want && s->st == S_OFF)
			cli_start(b, s, true);
		else if (!s->want && s->st == S_ON)
			cli_start(b, s, false);
		else if (!s->want && s->st == S_OFF)
			s->st = S_FREE;
	}
}

/* ---- the session's state, from `gobgp neighbor` ---- */

int bgp_parse_neighbors(const char *text, char *out, size_t len)
{
	char line[256], peer[64], as[16], updown[32], state[32];
	size_t n = 0;
	int up = 0;

	*out = '\0';
	for (const char *p = text; *p; ) {
		size_t l = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)(l < sizeof(line) ? l : sizeof(line) - 1), p);
		p += l + (p[l] == '\n');
		/* "Peer AS Up/Down State |#Received Accepted": a data line's
		 * first word is an address, its fourth the state. */
		if (sscanf(line, "%63s %15s %31s %31s", peer, as, updown, state) != 4 ||
		    !strpbrk(peer, ".:") || strcmp(peer, "Peer") == 0)
			continue;
		up += strcmp(state, "Establ") == 0;
		if (n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s %s", n ? ", " : "", peer, state);
	}
	return up;
}

/* ---- the speaker's table, listed for the audit ---- */

/* The one component of nlri, if it is a source prefix with no offset. */
static bool rib_source(json_object *path, struct ip_prefix *p)
{
	json_object *nlri, *val, *c, *v, *pre, *off;

	if (!json_object_object_get_ex(path, "nlri", &nlri) ||
	    !json_object_object_get_ex(nlri, "value", &val) ||
	    !json_object_is_type(val, json_type_array) || json_object_array_length(val) != 1)
		return false;
	c = json_object_array_get_idx(val, 0);
	if (!json_object_object_get_ex(c, "type", &v) || json_object_get_int(v) != 2 ||
	    !json_object_object_get_ex(c, "value", &v) ||
	    !json_object_object_get_ex(v, "prefix", &pre) ||
	    !json_object_is_type(pre, json_type_string) ||
	    (json_object_object_get_ex(v, "offset", &off) && json_object_get_int(off) != 0) ||
	    prefix_parse(json_object_get_string(pre), p) < 0)
		return false;
	addr_mask(&p->addr, p->len);
	return true;
}

/* Whether the path's extended communities are our action alone: a traffic
 * rate (type 0x80, subtype 6) of 0 (discard) or of cfg's bytes a second,
 * which gobgp keeps as a float. */
static bool rib_action(const struct bgp_cfg *cfg, json_object *path)
{
	json_object *attrs, *a, *v, *x;
	size_t n;

	if (!json_object_object_get_ex(path, "attrs", &attrs) ||
	    !json_object_is_type(attrs, json_type_array))
		return false;
	n = json_object_array_length(attrs);
	for (size_t i = 0; i < n; i++) {
		double rate, want = (double)cfg->rate_bps;

		a = json_object_array_get_idx(attrs, i);
		if (!json_object_object_get_ex(a, "type", &v) || json_object_get_int(v) != 16)
			continue;
		if (!json_object_object_get_ex(a, "value", &v) ||
		    !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 1)
			return false;
		x = json_object_array_get_idx(v, 0);
		if (!json_object_object_get_ex(x, "type", &v) || json_object_get_int(v) != 128 ||
		    !json_object_object_get_ex(x, "subtype", &v) || json_object_get_int(v) != 6 ||
		    !json_object_object_get_ex(x, "rate", &v))
			return false;
		rate = json_object_get_double(v);
		return fabs(rate - want) <= (want > 1e6 ? want * 1e-6 : 0.5);
	}
	return false;
}

/* Calls fn for each route of our shape in json; their count, or -EINVAL. */
static int rib_walk(const struct bgp_cfg *cfg, const char *json,
		    void (*fn)(const struct ip_prefix *p, void *ctx), void *ctx)
{
	json_object *root = json_tokener_parse(json);
	int k = 0;

	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -EINVAL;
	}
	json_object_object_foreach(root, key, paths) {
		size_t np;

		(void)key;
		if (!json_object_is_type(paths, json_type_array))
			continue;
		np = json_object_array_length(paths);
		for (size_t i = 0; i < np; i++) {
			json_object *path = json_object_array_get_idx(paths, i);
			struct ip_prefix p;

			if (!rib_source(path, &p) || !rib_action(cfg, path))
				continue;
			fn(&p, ctx);
			k++;
		}
	}
	json_object_put(root);
	return k;
}

struct rib_out {
	struct ip_prefix *out;
	size_t n, k;
};

static void rib_collect(const struct ip_prefix *p, void *ctx)
{
	struct rib_out *o = ctx;

	if (o->k < o->n)
		o->out[o->k] = *p;
	o->k++;
}

int bgp_parse_rib(const struct bgp_cfg *cfg, const char *json, struct ip_prefix *out, size_t n)
{
	struct rib_out o = { .out = out, .n = n };

	return rib_walk(cfg, json, rib_collect, &o);
}

/* Runs the CLI with argv, its stdout a pipe read by io in the loop; done
 * is told its exit. 0, or -errno (nothing started). */
static int cli_reading(struct bgp *b, char **argv, child_done_fn done, ev_io *io,
		       struct child **ch)
{
	static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int p[2], r;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	r = child_start(b->loop, &(struct child_req){ .argv = argv, .env = env, .out = p[1],
			.timeout_ms = BGP_TIMEOUT_MS, .done = done, .ctx = b }, ch);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		*ch = NULL;
		return r;
	}
	ev_io_set(io, p[0], EV_READ);
	ev_io_start(b->loop, io);
	return 0;
}

/* Stops reading what cli_reading started, closing its pipe. */
static void reader_end(struct bgp *b, ev_io *io)
{
	ev_io_stop(b->loop, io);
	close(io->fd);
	io->fd = -1;
}

static void on_out(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bgp *b = w->data;
	ssize_t n = read(w->fd, b->text + b->ntext, sizeof(b->text) - 1 - b->ntext);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		b->ntext += (size_t)n;
		if (b->ntext < sizeof(b->text) - 1)
			return;
	}
	b->text[b->ntext] = '\0';
	b->st.session_up = bgp_parse_neighbors(b->text, b->st.session,
					      sizeof(b->st.session)) > 0;
	if (!*b->st.session)
		snprintf(b->st.session, sizeof(b->st.session), "no neighbor");
	reader_end(b, &b->out);
}

static void asked(struct child *c, int status, bool killed, void *ctx)
{
	struct bgp *b = ctx;

	b->asking = NULL;
	if (status || killed) {
		snprintf(b->st.session, sizeof(b->st.session), "unknown: gobgp neighbor %s %d",
			 killed ? "timed out after" : "exited with", killed ? BGP_TIMEOUT_MS : status);
		b->st.session_up = 0;
	}
}

/* Asks the speaker for its sessions; the answer is read in the loop. */
static void on_ask(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp *b = w->data;
	char host[128], port[8];
	char *argv[] = { b->speaker, "-u", host, "-p", port, "neighbor", NULL };

	if (b->asking || b->out.fd >= 0 ||
	    bgp_parse_api(b->api, host, sizeof(host), port, sizeof(port)) < 0)
		return;
	b->ntext = 0;
	if (cli_reading(b, argv, asked, &b->out, &b->asking) < 0)
		snprintf(b->st.session, sizeof(b->st.session), "unknown: cannot run %.100s", b->speaker);
}

/* A route of ours in the listing: its slot is seen; with none, it is
 * managed as if announced here, so kept while its source is banned and
 * withdrawn otherwise (see measure). */
static void audit_route(const struct ip_prefix *p, void *ctx)
{
	struct bgp *b = ctx;
	struct slot *s = slot_find(b, p);

	if (s) {
		s->seen = true;   /* announced here, or listed twice */
		return;
	}
	if (!(s = slot_free(b))) {
		b->list_overflow = true;  /* listed again once some are gone */
		return;
	}
	*s = (struct slot){ .src = *p, .st = S_ON, .want = eligible(b, p),
			    .on_since = ev_now(b->loop), .seen = true, .b = b };
	b->st.active++;
	b->st.adopted++;
}

static void list_start(struct bgp *b);

/* The slots of the family listed that were announced before the listing
 * began and that it lacks: lost by the speaker (a gobgpd restart),
 * announced again at the next tick while still wanted. */
static unsigned audit_lost(struct bgp *b)
{
	unsigned lost = 0;

	for (uint32_t i = 0; i < b->cfg.max; i++) {
		struct slot *s = &b->slots[i];

		if (s->st != S_ON || s->seen || s->on_since >= b->list_t0 ||
		    addr_is_v4(&s->src.addr) != (b->family == 0))
			continue;
		s->st = S_OFF;
		b->st.active--;
		b->st.lost++;
		lost++;
	}
	return lost;
}

/* The listing of one family, held against our slots; -EINVAL when it is
 * not the JSON expected. */
static int audit(struct bgp *b, const char *fam)
{
	uint64_t before = b->st.adopted;
	unsigned lost;

	for (uint32_t i = 0; i < b->cfg.max; i++)
		b->slots[i].seen = false;
	if (rib_walk(&b->cfg, b->rib, audit_route, b) < 0)
		return -EINVAL;
	lost = audit_lost(b);
	if (b->st.adopted > before)
		log_info("bgp: %" PRIu64 " %s route%s of ours in the speaker with no announcement "
			 "here: kept while banned, else withdrawn", b->st.adopted - before, fam,
			 b->st.adopted - before == 1 ? "" : "s");
	if (lost)
		log_warn("bgp: the speaker lost %u %s announcement%s: announcing again", lost, fam,
			 lost == 1 ? "" : "s");
	return 0;
}

/* One family listed and audited, then the next; after both, the next
 * round in audit_ms. */
static void list_done(struct bgp *b)
{
	const char *fam = b->family ? "ipv6-flowspec" : "ipv4-flowspec";

	reader_end(b, &b->lout);
	if (b->list_huge) {
		log_warn("bgp: the speaker's %s table is over %u MiB: it is not audited", fam,
			 BGP_RIB_MAX >> 20);
		b->family = 2;
		ev_timer_stop(b->loop, &b->list);
		return;
	}
	b->rib[b->nrib] = '\0';
	if (!b->list_ok || audit(b, fam) < 0) {
		if (!b->list_fails++)
			log_warn("bgp: cannot list the speaker's %s table (%s); retrying", fam,
				 b->list_ok ? "not the JSON expected" : "gobgp failed");
		return;
	}
	if (b->list_fails)
		log_info("bgp: the speaker's %s table listed after %u failed tries", fam,
			 b->list_fails);
	b->list_fails = 0;
	if (b->list_overflow) {
		b->list_overflow = false;
		return;             /* no room for all: this family again */
	}
	if (b->family == 0) {
		b->family = 1;
		list_start(b);
		return;
	}
	b->family = 0;
	b->list.repeat = (b->cfg.audit_ms ? b->cfg.audit_ms : BGP_AUDIT_MS) / 1000.;
	ev_timer_again(b->loop, &b->list);
}

static void list_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bgp *b = w->data;
	ssize_t n;

	if (b->rib_cap - b->nrib < 4096 && b->rib_cap < BGP_RIB_MAX) {
		char *r = realloc(b->rib, b->rib_cap * 2);

		if (r) {
			b->rib = r;
			b->rib_cap *= 2;
		}
	}
	if (b->nrib + 1 >= b->rib_cap) {
		b->list_huge = true;
		n = 0;
	} else {
		n = read(w->fd, b->rib + b->nrib, b->rib_cap - 1 - b->nrib);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0) {
			b->nrib += (size_t)n;
			return;
		}
	}
	b->list_eof = true;
	if (b->list_exited)
		list_done(b);
	else
		ev_io_stop(loop, w);
}

static void listed(struct child *c, int status, bool killed, void *ctx)
{
	struct bgp *b = ctx;

	b->listing = NULL;
	b->list_exited = true;
	b->list_ok = b->list_ok && status == 0 && !killed;
	if (b->list_eof)
		list_done(b);
}

/* Lists the current family's FlowSpec table; read in the loop. */
static void list_start(struct bgp *b)
{
	char host[128], port[8], fam[16];
	char *argv[] = { b->speaker, "-u", host, "-p", port, "-j", "global", "rib", "-a", fam, NULL };

	if (b->listing || b->lout.fd >= 0 || b->family >= 2 ||
	    bgp_parse_api(b->api, host, sizeof(host), port, sizeof(port)) < 0)
		return;
	snprintf(fam, sizeof(fam), "%s", b->family ? "ipv6-flowspec" : "ipv4-flowspec");
	b->list_t0 = ev_now(b->loop);
	b->nrib = 0;
	b->list_eof = b->list_exited = false;
	b->list_ok = true;
	if (cli_reading(b, argv, listed, &b->lout, &b->listing) < 0 && !b->list_fails++)
		log_warn("bgp: cannot run %s to list the speaker's tables; retrying", b->speaker);
}

static void on_list(struct ev_loop *loop, ev_timer *w, int revents)
{
	list_start(w->data);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	measure(w->data);
}

static void on_soon(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bgp *b = w->data;

	measure(b);
	if (ev_now(loop) >= b->soon_until)
		ev_timer_stop(loop, w);
}

void bgp_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct bgp *b = ctx;
	struct slot *s;

	if (e->type == EVT_BAN) {
		b->soon_until = ev_now(b->loop) + BGP_SOON_FOR;
		if (!ev_is_active(&b->soon))
			ev_timer_start(b->loop, &b->soon);
	} else if (e->type == EVT_UNBAN && (s = slot_find(b, &e->src))) {
		s->want = false;
		if (s->st == S_ON)
			cli_start(b, s, false);
		else if (s->st == S_OFF)
			s->st = S_FREE;
	}
}

int bgp_new(struct ev_loop *loop, const struct bgp_cfg *cfg, struct mitigate *m,
	    struct whitelist *const *wl, bgp_top_fn top, void *top_ctx, struct bgp **out,
	    char *err, size_t errlen)
{
	char host[128], port[8];
	struct bgp *b;

	if (bgp_parse_api(cfg->api, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "upstream.api: expected host:port, not \"%s\"", cfg->api);
		return -EINVAL;
	}
	if (!(b = calloc(1, sizeof(*b))) || !(b->slots = calloc(cfg->max, sizeof(*b->slots))) ||
	    !(b->rib = malloc(b->rib_cap = 16384))) {
		if (b)
			free(b->slots);
		free(b);
		snprintf(err, errlen, "bgp: out of memory");
		return -ENOMEM;
	}
	b->loop = loop;
	b->cfg = *cfg;
	snprintf(b->speaker, sizeof(b->speaker), "%s", cfg->speaker);
	snprintf(b->api, sizeof(b->api), "%s", cfg->api);
	b->cfg.speaker = b->speaker;
	b->cfg.api = b->api;
	b->mit = m;
	b->wl = wl;
	b->top = top;
	b->top_ctx = top_ctx;
	ev_timer_init(&b->tick, on_tick, 1., 1.);
	ev_timer_init(&b->soon, on_soon, BGP_SOON, BGP_SOON);
	ev_timer_init(&b->ask, on_ask, 0., BGP_SESSION_S);
	ev_init(&b->out, on_out);
	b->out.fd = -1;
	ev_timer_init(&b->list, on_list, 0., BGP_LIST_RETRY_S);
	ev_init(&b->lout, list_read);
	b->lout.fd = -1;
	b->tick.data = b->soon.data = b->ask.data = b->out.data = b;
	b->list.data = b->lout.data = b;
	ev_timer_start(loop, &b->tick);
	ev_timer_start(loop, &b->ask);
	ev_timer_start(loop, &b->list);
	*out = b;
	return 0;
}

void bgp_get_stats(const struct bgp *b, struct bgp_stats *st)
{
	*st = b->st;
}

const char *bgp_speaker(const struct bgp *b)
{
	return b->speaker;
}

void bgp_free(struct bgp *b)
{
	if (!b)
		return;
	ev_timer_stop(b->loop, &b->tick);
	ev_timer_stop(b->loop, &b->soon);
	ev_timer_stop(b->loop, &b->ask);
	ev_timer_stop(b->loop, &b->list);
	/* The pipes first: a CLI still writing to one then ends at once. */
	if (b->out.fd >= 0)
		reader_end(b, &b->out);
	if (b->lout.fd >= 0)
		reader_end(b, &b->lout);
	if (b->asking)
		child_finish(b->asking);
	if (b->listing)
		child_finish(b->listing);
	for (uint32_t i = 0; i < b->cfg.max; i++) {
		struct slot *s = &b->slots[i];

		if (s->ch)
			child_finish(s->ch);    /* an add may have gone through */
		s->ch = NULL;
		if (s->st == S_ADDING || s->st == S_ON || s->st == S_DELETING)
			cli_start(b, s, false);
		else
			s->st = S_FREE;
	}
	for (uint32_t i = 0; i < b->cfg.max; i++)
		if (b->slots[i].ch)
			child_finish(b->slots[i].ch);
	free(b->slots);
	free(b->rib);
	free(b);
}
