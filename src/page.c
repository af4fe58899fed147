/* page.c - what the live page shows and changes, as JSON.
 *
 * The page (web/) polls /api/state once a second and listens to the live
 * feed; this file builds the state from the modules' own getters: bans
 * with their time left, the ban rules' kernel counters, the busiest
 * sources per class (detect's table read at most once a second, off the
 * packet path), and packet rates per protocol class, which a one-second
 * timer samples from capture's counters into a ring of the last five
 * minutes. Changes (ban, unban, acknowledge, tune) reuse what dosipsctl
 * and SIGHUP already do: ctl_answer for bans, the reload path for tuning;
 * each is audited in the history with the caller's role.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "bgp.h"
#include "crowdsec.h"
#include "feeds.h"
#include "fw.h"
#include "log.h"
#include "mitigate.h"
#include "page.h"
#include "store.h"
#include "stats.h"
#include "strbuf.h"
#include "workers.h"

#define RATE_SAMPLES 300            /* seconds of rates kept */
#define TOP_N 5
#define BANS_LISTED 200
#define TUNE_MAX 32
#define JSON_VAL_MAX 512

enum { R_TCP, R_UDP, R_ICMP, R_OTHER, R__MAX };
static const char *const rate_names[R__MAX] = { "tcp", "udp", "icmp", "other" };

struct page {
	struct ev_loop *loop;
	const struct http_view *v;
	ev_timer sample;
	uint64_t last[R__MAX];
	bool have_last;
	uint32_t rate[RATE_SAMPLES][R__MAX];
	unsigned nrate, head;       /* samples held; index of the next */
	double sampled;             /* ev_now of the newest sample */
	struct detect_top top[KIND__MAX][8];
	double top_at;
};

/* ---- rates ------------------------------------------------------------ */

static void counts_now(struct page *p, uint64_t c[R__MAX])
{
	struct capture_stats cs;

	stats_capture(p->v->ctl, &cs);
	c[R_TCP] = cs.tcp;
	c[R_UDP] = cs.udp;
	c[R_ICMP] = cs.icmp + cs.icmp6;
	c[R_OTHER] = cs.other;
}

static void on_sample(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct page *p = w->data;
	uint64_t c[R__MAX];

	counts_now(p, c);
	if (p->have_last) {
		for (int i = 0; i < R__MAX; i++)
			p->rate[p->head][i] = (uint32_t)(c[i] - p->last[i]);
		p->head = (p->head + 1) % RATE_SAMPLES;
		if (p->nrate < RATE_SAMPLES)
			p->nrate++;
		p->sampled = ev_now(loop);
	}
	memcpy(p->last, c, sizeof(c));
	p->have_last = true;
}

static void json_rates(struct strbuf *b, const struct page *p)
{
	sb_printf(b, "\"rates\":{\"step_s\":1,\"end\":%.3f", p->sampled);
	for (int i = 0; i < R__MAX; i++) {
		sb_printf(b, ",\"%s\":[", rate_names[i]);
		for (unsigned k = 0; k < p->nrate; k++) {
			unsigned at = (p->head + RATE_SAMPLES - p->nrate + k) % RATE_SAMPLES;

			sb_printf(b, "%s%u", k ? "," : "", p->rate[at][i]);
		}
		sb_printf(b, "]");
	}
	sb_printf(b, "}");
}

/* ---- state ------------------------------------------------------------ */

struct bans_ctx {
	struct strbuf *b;
	unsigned n;
};

static void json_ban(const struct ban_info *bi, void *ctx)
{
	struct bans_ctx *bc = ctx;
	char src[ADDR_STRLEN];

	if (bc->n++ >= BANS_LISTED)
		return;
	sb_printf(bc->b, "%s{\"src\":\"%s\",\"kind\":\"%s\",\"left_s\":%.1f,"
		  "\"duration_s\":%u,\"offences\":%u}", bc->n > 1 ? "," : "",
		  prefix_fmt(&bi->src, src), detect_kind_name(bi->kind),
		  bi->remaining_ms / 1000.0, bi->duration_s, bi->offences);
}

static void json_top(struct strbuf *b, struct page *p)
{
	char src[ADDR_STRLEN];

	/* With workers each shard's table is its thread's: each reads its own
	 * when asked, and these are their answers to the last look. */
	if (ev_now(p->loop) - p->top_at >= 1.0) {
		if (p->v->ctl->wk)
			workers_top_sources(p->v->ctl->wk, p->top, TOP_N);
		else if (p->v->ctl->det)
			detect_top_sources(p->v->ctl->det, p->top, TOP_N);
		p->top_at = ev_now(p->loop);
	}
	sb_printf(b, "\"top\":{");
	for (int k = 0; k < KIND_DDOS; k++) {
		sb_printf(b, "%s\"%s\":[", k ? "," : "", detect_kind_name(k));
		for (int i = 0; i < TOP_N && p->top[k][i].count; i++)
			sb_printf(b, "%s{\"src\":\"%s\",\"count\":%u}", i ? "," : "",
				  prefix_fmt(&p->top[k][i].src, src), p->top[k][i].count);
		sb_printf(b, "]");
	}
	sb_printf(b, "}");
}

/* The settings the page may tune, with their values now. */
static void json_tune(struct strbuf *b, const struct config *cfg)
{
	sb_printf(b, "\"tune\":{\"ban\":\"%us\",\"ban_max\":\"%us\",\"cooldown\":\"%ums\"",
		  cfg->mitigate.ban_s, cfg->mitigate.ban_max_s, cfg->detect.cooldown_ms);
	for (int k = 0; k < KIND__MAX; k++) {
		const struct detector_cfg *d = &cfg->detect.det[k];
		const char *n = detect_kind_name(k);

		sb_printf(b, ",\"%s.enabled\":\"%s\",\"%s.threshold\":\"%u\",\"%s.window\":\"%ums\"",
			  n, d->enabled ? "yes" : "no", n, d->threshold, n, d->window_ms);
	}
	sb_printf(b, "}");
}

static void json_feed(const struct feed_info *fi, void *ctx)
{
	struct bans_ctx *c = ctx;

	sb_printf(c->b, "%s{\"name\":", c->n++ ? "," : "");
	sb_json_str(c->b, fi->name);
	sb_printf(c->b, ",\"action\":");
	sb_json_str(c->b, fi->action ? fi->action : "");
	sb_printf(c->b, ",\"entries\":%zu,\"last_refresh\":%.3f,\"error\":", fi->entries,
		  fi->last_refresh);
	sb_json_str(c->b, fi->last_error ? fi->last_error : "");
	sb_printf(c->b, "}");
}

/* The feeds and the fleet link, where there are any: what dosipsctl feeds
 * and dosipsctl peers show. */
static void json_intel(struct strbuf *b, const struct ctl_view *cv)
{
	struct bans_ctx fc = { b, 0 };
	struct crowdsec_stats cs;
	struct bgp_stats bs;

	sb_printf(b, ",\"feeds\":[");
	if (cv->feeds && cv->feeds_foreach)
		cv->feeds_foreach(cv->feeds, json_feed, &fc);
	sb_printf(b, "],\"bgp\":");
	if (cv->bgp) {
		bgp_get_stats(cv->bgp, &bs);
		sb_printf(b, "{\"active\":%" PRIu64 ",\"made\":%" PRIu64 ",\"withdrawn\":%" PRIu64
			  ",\"failed\":%" PRIu64 ",\"error\":", bs.active, bs.made, bs.withdrawn,
			  bs.failed);
		sb_json_str(b, bs.last_error);
		sb_printf(b, ",\"session\":");
		sb_json_str(b, bs.session);
		sb_printf(b, "}");
	} else {
		sb_printf(b, "null");
	}
	sb_printf(b, ",\"crowdsec\":");
	if (!cv->crowdsec) {
		sb_printf(b, "null");
		return;
	}
	crowdsec_get_stats(cv->crowdsec, &cs);
	sb_printf(b, "{\"up\":%s,\"pushed\":%" PRIu64 ",\"queued\":%" PRIu64
		  ",\"applied\":%" PRIu64 ",\"last_pull\":%.3f,\"error\":",
		  cs.api_up ? "true" : "false", cs.pushed, cs.queued, cs.applied, cs.last_pull);
	sb_json_str(b, cs.last_error);
	sb_printf(b, "}");
}

char *page_state_json(struct page *p, const struct page_caller *who, size_t *len)
{
	const struct ctl_view *cv = p->v->ctl;
	struct strbuf b = { 0 };
	struct bans_ctx bc = { &b, 0 };
	struct fw_drops dr;

	fw_drop_counters(cv->fw, &dr);
	sb_printf(&b, "{\"version\":\"%s\",\"role\":\"%s\",\"now\":%.3f,\"source\":",
		  DOSIPS_VERSION, who->role, ev_now(p->loop));
	sb_json_str(&b, cv->source ? cv->source : "");
	sb_printf(&b, ",\"dry_run\":%s,\"history\":%s,\"bans\":[", cv->dry_run ? "true" : "false",
		  p->v->ctl->store ? "true" : "false");
	mitigate_foreach(cv->mit, json_ban, &bc);
	sb_printf(&b, "],\"bans_active\":%u,\"drops\":{\"packets\":%" PRIu64
		  ",\"bytes\":%" PRIu64 "},", bc.n, dr.packets, dr.bytes);
	json_top(&b, p);
	sb_printf(&b, ",");
	json_rates(&b, p);
	sb_printf(&b, ",");
	json_tune(&b, cv->cfg);
	json_intel(&b, cv);
	sb_printf(&b, "}");
	return sb_take(&b, len);
}

/* ---- a little JSON reading -------------------------------------------- */

static const char *ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* Reads a JSON string at s into out (ASCII escapes only); the end or NULL. */
static const char *json_string(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	if (*s++ != '"')
		return NULL;
	for (; *s && *s != '"'; s++) {
		char c = *s;

		if (c == '\\') {
			c = *++s;
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '"' && c != '\\' && c != '/')
				return NULL;
		}
		if ((unsigned char)c < 0x20 || n + 1 >= outlen)
			return NULL;
		out[n++] = c;
	}
	if (*s != '"')
		return NULL;
	out[n] = '\0';
	return s + 1;
}

/* Reads a scalar (string, number, true, false) as text; the end or NULL. */
static const char *json_scalar(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	if (*s == '"')
		return json_string(s, out, outlen);
	while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || *s == '-' || *s == '.') {
		if (n + 1 >= outlen)
			return NULL;
		out[n++] = *s++;
	}
	out[n] = '\0';
	return n ? s : NULL;
}

/* Calls fn for each member of the object at s whose value is a scalar;
 * an object value is passed with val NULL and its text at *s, which fn
 * moves past it. Returns the end of the object, or NULL on malformed
 * input or when fn returns < 0. */
static const char *json_members(const char *s, int (*fn)(const char *key, const char *val,
							  const char **s, void *ctx),
				void *ctx)
{
	char key[64], val[JSON_VAL_MAX];

	if (*(s = ws(s)) != '{')
		return NULL;
	s = ws(s + 1);
	if (*s == '}')
		return s + 1;
	for (;;) {
		if (!(s = json_string(ws(s), key, sizeof(key))) || *(s = ws(s)) != ':')
			return NULL;
		s = ws(s + 1);
		if (*s == '{') {
			if (fn(key, NULL, &s, ctx) < 0)
				return NULL;
		} else if (!(s = json_scalar(s, val, sizeof(val))) || fn(key, val, &s, ctx) < 0) {
			return NULL;
		}
		s = ws(s);
		if (*s == '}')
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

/* ---- changes ---------------------------------------------------------- */

struct fields {
	char src[64], duration[32], note[JSON_VAL_MAX], id[24];
	bool save;
	struct config_setting set[TUNE_MAX];
	char keys[TUNE_MAX][64], vals[TUNE_MAX][64];
	int nset;
	const char *why;
};

static int tune_member(const char *key, const char *val, const char **s, void *ctx)
{
	struct fields *f = ctx;

	if (!val || f->nset == TUNE_MAX || strlen(key) >= 64 || strlen(val) >= 64)
		return f->why = "settings: at most 32 short \"key\": \"value\" pairs", -1;
	snprintf(f->keys[f->nset], 64, "%s", key);
	snprintf(f->vals[f->nset], 64, "%s", val);
	f->set[f->nset] = (struct config_setting){ f->keys[f->nset], f->keys[f->nset],
						   f->vals[f->nset] };
	f->nset++;
	return 0;
}

static int field_member(const char *key, const char *val, const char **s, void *ctx)
{
	struct fields *f = ctx;

	if (!val && strcmp(key, "settings") == 0)
		return (*s = json_members(*s, tune_member, f)) ? 0 : -1;
	if (!val)
		return f->why = "unexpected object", -1;
	if (strcmp(key, "src") == 0)
		snprintf(f->src, sizeof(f->src), "%s", val);
	else if (strcmp(key, "duration") == 0)
		snprintf(f->duration, sizeof(f->duration), "%s", val);
	else if (strcmp(key, "note") == 0)
		snprintf(f->note, sizeof(f->note), "%s", val);
	else if (strcmp(key, "id") == 0)
		snprintf(f->id, sizeof(f->id), "%s", val);
	else if (strcmp(key, "save") == 0)
		f->save = strcmp(val, "true") == 0;
	return 0;
}

static char *json_reply(bool ok, const char *msg, size_t *len)
{
	struct strbuf b = { 0 };

	sb_printf(&b, "{\"%s\":", ok ? "message" : "error");
	sb_json_str(&b, msg);
	sb_printf(&b, "}");
	return sb_take(&b, len);
}

/* A dosipsctl command through the control socket's own code: the last
 * line of its answer is "ok" or "error: MESSAGE". */
static int run_ctl(struct page *p, const char *line, char *msg, size_t msglen)
{
	size_t len;
	char *out = ctl_answer(p->v->ctl, line, 0, true, &len), *last;
	int ok;

	if (!out)
		return snprintf(msg, msglen, "out of memory"), -ENOMEM;
	while (len && out[len - 1] == '\n')
		out[--len] = '\0';
	last = strrchr(out, '\n');
	ok = strcmp(last ? last + 1 : out, "ok") == 0;
	if (ok && last)
		*last = '\0';
	snprintf(msg, msglen, "%s", ok ? (last ? out : "done") :
		 (last ? last + 1 : out) + (strncmp(last ? last + 1 : out, "error: ", 7) ? 0 : 7));
	free(out);
	return ok ? 0 : -EINVAL;
}

static bool is_word(const char *s)
{
	return *s && strspn(s, "0123456789abcdefABCDEF.:/smhd") == strlen(s);
}

/* Settings the page may change: ban lengths, the cooldown, detectors. */
static bool tunable(const char *key)
{
	const char *dot = strchr(key, '.');
	char kind[32];

	if (!strcmp(key, "ban") || !strcmp(key, "ban_max") || !strcmp(key, "cooldown"))
		return true;
	if (!dot || (size_t)(dot - key) >= sizeof(kind))
		return false;
	snprintf(kind, sizeof(kind), "%.*s", (int)(dot - key), key);
	return detect_kind_parse(kind) >= 0 && (!strcmp(dot, ".threshold") ||
	       !strcmp(dot, ".window") || !strcmp(dot, ".enabled"));
}

static int do_tune(struct page *p, struct fields *f, char *msg, size_t msglen)
{
	if (!f->nset)
		return snprintf(msg, msglen, "no settings given"), -EINVAL;
	for (int i = 0; i < f->nset; i++)
		if (!tunable(f->set[i].key))
			return snprintf(msg, msglen, "%s cannot be tuned from the page",
					f->set[i].key), -EINVAL;
	if (p->v->tune(p->v->ctx, f->set, f->nset, f->save, msg, msglen) < 0)
		return -EINVAL;
	snprintf(msg, msglen, "applied%s", f->save ? " and saved" : " (not saved)");
	return 0;
}

static int do_ack(struct page *p, struct fields *f, const struct page_caller *who,
		  char *msg, size_t msglen)
{
	char *end;
	long long id = strtoll(f->id, &end, 10);
	int r;

	if (!p->v->ctl->store)
		return snprintf(msg, msglen, "no history: set history_db"), -EIO;
	if (!*f->id || *end || id <= 0)
		return snprintf(msg, msglen, "id: expected an alert's number"), -EINVAL;
	if ((r = store_ack(p->v->ctl->store, id, who->who, f->note)) == -ENOENT)
		snprintf(msg, msglen, "no alert %lld in the history", id);
	else if (r < 0)
		snprintf(msg, msglen, "cannot acknowledge: %s", strerror(-r));
	else
		snprintf(msg, msglen, "alert %lld acknowledged", id);
	return r;
}

/* Every change, done or refused, as a control event on the bus: the log,
 * the events file, the live feed and the history all hear it. */
static void audit(struct page *p, const struct page_caller *who, const char *action,
		  const struct fields *f, int r, const char *msg)
{
	char detail[CONFIG_PATH_MAX + 2048];
	size_t n = (size_t)snprintf(detail, sizeof(detail), "%s%s%s%s%s", f->src,
				    *f->duration ? " " : "", f->duration, *f->id ? "#" : "", f->id);

	for (int i = 0; i < f->nset && n < sizeof(detail); i++)
		n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s%s=%s", n ? " " : "",
				      f->set[i].key, f->set[i].value);
	if (f->save && n < sizeof(detail))
		n += (size_t)snprintf(detail + n, sizeof(detail) - n, " (saved)");
	if (n < sizeof(detail))
		snprintf(detail + n, sizeof(detail) - n, ": %s%s", r ? "refused: " : "", msg);
	events_control(p->v->bus, who->who, who->role, action, detail);
}

int page_action(struct page *p, const char *action, const char *body,
		const struct page_caller *who, char **reply, size_t *len)
{
	struct fields f = { .why = "expected a JSON object" };
	char line[160], msg[CONFIG_PATH_MAX + 256];
	int r = -EINVAL;

	const char *end = json_members(body, field_member, &f);
	bool bad = !end || *ws(end);

	if (strcmp(who->role, "admin") != 0) {
		snprintf(msg, sizeof(msg), "changes need an admin token");
		audit(p, who, action, &f, -EPERM, msg);
		*reply = json_reply(false, msg, len);
		return 403;
	}
	if (bad) {
		*reply = json_reply(false, f.why, len);
		return 400;
	}
	if (!strcmp(action, "ban") || !strcmp(action, "unban")) {
		if (!is_word(f.src) || (*f.duration && !is_word(f.duration))) {
			snprintf(msg, sizeof(msg), "src: expected an address or ADDR/LEN");
		} else {
			snprintf(line, sizeof(line), "%s %s %s", action, f.src, f.duration);
			r = run_ctl(p, line, msg, sizeof(msg));
		}
	} else if (!strcmp(action, "tune")) {
		r = do_tune(p, &f, msg, sizeof(msg));
	} else if (!strcmp(action, "ack")) {
		r = do_ack(p, &f, who, msg, sizeof(msg));
	} else {
		*reply = json_reply(false, "no such action", len);
		return 404;
	}
	audit(p, who, action, &f, r, msg);
	*reply = json_reply(r == 0, msg, len);
	return r == 0 ? 200 : r == -ENOENT ? 404 : r == -EIO ? 503 : 400;
}

struct rows_ctx {
	struct strbuf *b;
	unsigned n;
};

static void json_row(const struct store_row *r, void *ctx)
{
	struct rows_ctx *rc = ctx;
	char buf[8192];
	int n = store_row_json(r, buf, sizeof(buf));

	if (n > 0)
		sb_printf(rc->b, "%s%.*s", rc->n++ ? "," : "", n, buf);
}

static uint64_t query_u64(const char *(*get)(void *, const char *), void *ctx, const char *k)
{
	const char *v = get(ctx, k);

	return v ? strtoull(v, NULL, 10) : 0;
}

char *page_history_json(struct page *p, const char *(*get)(void *ctx, const char *key),
			void *ctx, int *status, size_t *len)
{
	struct store_filter f = {
		.since_us = query_u64(get, ctx, "since_us"),
		.until_us = query_u64(get, ctx, "until_us"),
		.before_id = (int64_t)query_u64(get, ctx, "before_id"),
		.kind = get(ctx, "kind"), .event = get(ctx, "event"), .src = get(ctx, "src"),
		.limit = (uint32_t)query_u64(get, ctx, "limit"),
	};
	struct strbuf b = { 0 };
	struct rows_ctx rc = { &b, 0 };
	int n;

	*status = 200;
	if (!p->v->ctl->store) {
		*status = 503;
		return json_reply(false, "no history: set history_db", len);
	}
	if (!f.limit || f.limit > 1000)
		f.limit = 1000;
	sb_printf(&b, "{\"rows\":[");
	if ((n = store_query(p->v->ctl->store, &f, json_row, &rc)) < 0) {
		free(b.p);
		*status = 500;
		return json_reply(false, strerror(-n), len);
	}
	sb_printf(&b, "]}");
	return sb_take(&b, len);
}

/* ---- set-up ----------------------------------------------------------- */

int page_new(struct ev_loop *loop, const struct http_view *v, struct page **out)
{
	struct page *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->v = v;
	p->top_at = -1e9;
	ev_timer_init(&p->sample, on_sample, 0., 1.);
	p->sample.data = p;
	ev_timer_start(loop, &p->sample);
	ev_unref(loop);  /* sampling alone must not keep a replay's loop alive */
	*out = p;
	return 0;
}

void page_free(struct page *p)
{
	if (!p)
		return;
	ev_ref(p->loop);
	ev_timer_stop(p->loop, &p->sample);
	free(p);
}
