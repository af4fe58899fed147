/* ctl.c - the control socket. Requests are tiny and answered from memory,
 * every client is non-blocking with absolute deadlines, idle ones are shed
 * for newcomers and root has slots of its own, so a slow, stuck or
 * malicious client can never hold up capture nor lock root out. A long
 * answer (the history) is a stream: the next chunk is made only when the
 * client has taken the last one. Every change made here is audited. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "ctl.h"
#include "feeds.h"
#include "fw.h"
#include "bgp.h"
#include "crowdsec.h"
#include "hooks.h"
#include "log.h"
#include "mitigate.h"
#include "notify.h"
#include "stats.h"
#include "store.h"

#define CTL_ARGS 8
#define CTL_CLIENTS 64          /* connections at once (idle ones are shed) */
#define CTL_ROOT_SLOTS 4        /* more for root when all are busy answering */
#define CTL_SHED_AGE_S 1.0      /* silent this long: shed for a newcomer */
#define CTL_IDLE_S 5.0          /* to send the request line, from the accept */
#define CTL_REPLY_S 30.0        /* to read the whole answer */
#define CTL_DRAIN_S 1.0         /* to close after the answer */
#define CTL_SNDBUF (128 << 10)  /* socket buffer of a client's answer */
#define REPLY_MAX (64u << 20)   /* room for a full ban list and then some */

/* ---- replies ---------------------------------------------------------- */

struct reply;

/* A long answer: next appends the next chunk to r and returns 1 while
 * more is to come, 0 when done, -errno (why in err) on failure. */
struct stream {
	int (*next)(void *state, struct reply *r, char *err, size_t errlen);
	void *state;        /* freed with free() when the stream ends */
};

struct reply {
	char *buf;
	size_t len, cap;
	bool oom;
	struct conn *k;     /* the client, for a reply that comes later */
	bool later;         /* the command answers later (ctl_later) */
	struct stream more;
};

static int reply_grow(struct reply *r, size_t need)
{
	size_t cap = r->cap;
	char *p;

	while (cap - r->len < need)
		cap *= 2;
	if (cap > REPLY_MAX || !(p = realloc(r->buf, cap)))
		return -ENOMEM;
	r->buf = p;
	r->cap = cap;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static void say(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!r->oom) {
		va_start(ap, fmt);
		n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < r->cap - r->len) {
			r->len += (size_t)n;
			return;
		}
		if (n < 0 || reply_grow(r, (size_t)n + 1) < 0)
			r->oom = true;
	}
}

/* "42s", "5m7s", "2h3m", "1d2h": time for a person. */
static char *fmt_dur(uint64_t s, char buf[32])
{
	if (s < 60)
		snprintf(buf, 32, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, 32, "%" PRIu64 "m%" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, 32, "%" PRIu64 "h%" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, 32, "%" PRIu64 "d%" PRIu64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

/* ---- commands ----------------------------------------------------------- */

typedef int (*cmd_fn)(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		      char *err, size_t errlen);

static uint64_t alerts_total(const struct ctl_view *v, const struct detect_stats *ds, int k)
{
	return v->alerts_before[k] + ds->alerts[k];
}

static int cmd_status(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		      char *err, size_t errlen)
{
	struct capture_stats cs;
	struct detect_stats ds;
	struct hooks_stats hs;
	uint64_t up = (uint64_t)(ev_time() - v->started);
	char dur[32];

	stats_capture(v, &cs);
	stats_detect(v, &ds);
	hooks_get_stats(v->hooks, &hs);
	say(r, "version: %s\npid: %d\nuptime: %" PRIu64 "s (%s)\n", DOSIPS_VERSION,
	    (int)getpid(), up, fmt_dur(up, dur));
	say(r, "source: %s\n", v->source);
	if (v->dry_run)
		say(r, "firewall: none (dry run)\n");
	else
		say(r, "firewall: table inet %s\n", v->cfg->table);
	say(r, "packets: %" PRIu64 "\n", cs.decoded[DEC_OK]);
	if (cs.have_kernel)
		say(r, "dropped: %" PRIu64 "\n", cs.kernel_drop + cs.iface_drop);
	else
		say(r, "dropped: n/a\n");
	say(r, "alerts:");
	for (int k = 0; k < KIND__MAX; k++)
		say(r, " %s=%" PRIu64, detect_kind_name(k), alerts_total(v, &ds, k));
	say(r, "\nbans: %u active (max %u)\nhooks: %u running\n", mitigate_count(v->mit),
	    v->cfg->mitigate.max_bans, hs.running);
	return 0;
}

static void stats_line(enum stats_group g, const char *key, uint64_t value, void *ctx)
{
	say(ctx, "%s=%" PRIu64 "\n", key, value);
}

static int cmd_stats(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		     char *err, size_t errlen)
{
	say(r, "uptime_s=%.0f\n", ev_time() - v->started);
	stats_collect(v, stats_line, r);
	return 0;
}

static void ban_line(const struct ban_info *b, void *ctx)
{
	char addr[ADDR_STRLEN], left[32], len[32];
	const char *why = detect_kind_name(b->kind);

	say(ctx, "%-40s %-11s %8s %8s %8u\n", prefix_fmt(&b->src, addr), why,
	    fmt_dur((b->remaining_ms + 999) / 1000, left), fmt_dur(b->duration_s, len),
	    b->offences);
}

static int cmd_bans(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		    char *err, size_t errlen)
{
	say(r, "%-40s %-11s %8s %8s %8s\n", "ADDRESS", "REASON", "LEFT", "BAN", "OFFENCES");
	mitigate_foreach(v->mit, ban_line, r);
	return 0;
}

/* One feed: name, entries, action, time since its last good load, and
 * the last error ("-" when the last attempt went well). */
static void feed_line(const struct feed_info *f, void *ctx)
{
	char ago[32];
	uint64_t s = (uint64_t)(ev_time() - f->last_refresh);

	say(ctx, "%-20s %9zu %-6s %10s  %s\n", f->name, f->entries, f->action,
	    f->last_refresh > 0 ? fmt_dur(s, ago) : "never", *f->last_error ? f->last_error : "-");
}

static int cmd_feeds(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		     char *err, size_t errlen)
{
	say(r, "%-20s %9s %-6s %10s  %s\n", "FEED", "ENTRIES", "ACTION", "REFRESHED",
	    "LAST ERROR");
	if (v->feeds_foreach)
		v->feeds_foreach(v->feeds, feed_line, r);
	return 0;
}

/* An address or prefix to ban by hand; never everything at once. */
static int parse_target(const char *s, struct ip_prefix *p, char *err, size_t errlen)
{
	if (prefix_parse(s, p) < 0) {
		snprintf(err, errlen, "%s: expected an address or ADDR/LEN", s);
		return -EINVAL;
	}
	if (prefix_family_len(p) == 0) {
		snprintf(err, errlen, "%s: refusing to act on every address", s);
		return -EINVAL;
	}
	return 0;
}

static int cmd_ban(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		   char *err, size_t errlen)
{
	uint32_t secs = v->cfg->mitigate.ban_s;
	char addr[ADDR_STRLEN], dur[32];
	struct ip_prefix p;
	uint64_t ms;
	int rc;

	if ((rc = parse_target(argv[0], &p, err, errlen)) < 0)
		return rc;
	if (argc > 1) {
		if (config_parse_duration_ms(argv[1], &ms) < 0 || ms % 1000 || ms < 1000 ||
		    ms > 31536000000ull) {
			snprintf(err, errlen, "%s: expected whole seconds from 1 to 31536000 "
				 "(or 90s, 5m, 2h, 1d)", argv[1]);
			return -EINVAL;
		}
		secs = (uint32_t)(ms / 1000);
	}
	prefix_fmt(&p, addr);
	if ((rc = mitigate_ban(v->mit, &p, secs)) < 0 && *mitigate_refusal(v->mit))
		snprintf(err, errlen, "the kernel refused the ban of %s: %s", addr,
			 mitigate_refusal(v->mit));
	else if (rc == -EPERM)
		snprintf(err, errlen, "%s is whitelisted: not banned", addr);
	else if (rc == -EEXIST)
		snprintf(err, errlen, "%s is inside a wider ban already", addr);
	else if (rc == -ENOSPC)
		snprintf(err, errlen, "ban cap reached (max_bans %u): %s not banned",
			 v->cfg->mitigate.max_bans, addr);
	else if (rc < 0)
		snprintf(err, errlen, "cannot ban %s: %s", addr, strerror(-rc));
	else
		say(r, "banned %s for %s\n", addr, fmt_dur(secs, dur));
	return rc;
}

static int cmd_unban(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		     char *err, size_t errlen)
{
	char addr[ADDR_STRLEN];
	struct ip_prefix p;
	int rc;

	if ((rc = parse_target(argv[0], &p, err, errlen)) < 0)
		return rc;
	prefix_fmt(&p, addr);
	if ((rc = mitigate_unban(v->mit, &p)) == -ENOENT)
		snprintf(err, errlen, "%s is not banned", addr);
	else if (rc < 0)
		snprintf(err, errlen, "cannot unban %s: %s", addr, strerror(-rc));
	else
		say(r, "unbanned %s\n", addr);
	return rc;
}

static int cmd_reload(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		      char *err, size_t errlen)
{
	int rc = v->reload ? v->reload(v->ctx, err, errlen) : -ENOTSUP;

	if (rc == -ENOTSUP && !*err)
		snprintf(err, errlen, "reload is not available");
	if (rc == 0)
		say(r, "reloaded\n");
	return rc;
}

static void ctl_later(void *arg, int rc, const char *answer);

/* notify test NAME: the endpoint's answer comes later, from the loop. */
static int cmd_notify(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		      char *err, size_t errlen)
{
	int rc;

	if (strcmp(argv[0], "test") != 0) {
		snprintf(err, errlen, "usage: notify test NAME");
		return -EINVAL;
	}
	if (!r->k) {
		snprintf(err, errlen, "notify test needs a client to answer");
		return -ENOTSUP;
	}
	if ((rc = notify_test(v->notify, argv[1], ctl_later, r->k, err, errlen)) == 0)
		r->later = true;
	return rc;
}

/* ---- history ------------------------------------------------------------ */

#define HISTORY_CHUNK 256       /* rows per chunk of a streamed answer */

enum hist_fmt { HF_TEXT, HF_JSON, HF_CSV };

struct hist {
	struct store *store;
	struct store_filter f;
	char kind[32], event[16], src[ADDR_STRLEN];
	enum hist_fmt fmt;
	uint64_t left;          /* rows still to send */
	int64_t last;           /* id of the last row found */
	struct reply *r;        /* the chunk being made */
};

/* The value of "key":"..." in a JSON object of ours, unescaped ("" when
 * absent); enough for the strings store_audit writes. */
static void json_get(const char *json, const char *key, char *out, size_t len)
{
	char pat[40];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(json, pat)))
		for (p += strlen(pat); *p && *p != '"' && n + 1 < len; p++)
			out[n++] = *p == '\\' && p[1] ? *++p : *p;
	out[n] = '\0';
}

/* The last column of the text form: who acknowledged, or who acted. */
static void hist_note(const struct store_row *row, char *buf, size_t len)
{
	char who[64], role[16], detail[CTL_LINE_MAX];

	*buf = '\0';
	if (row->acked) {
		snprintf(buf, len, "ack by %s: %s", row->ack_by, row->ack_note);
	} else if (strcmp(row->event, "control") == 0) {
		json_get(row->json, "who", who, sizeof(who));
		json_get(row->json, "role", role, sizeof(role));
		json_get(row->json, "detail", detail, sizeof(detail));
		snprintf(buf, len, "by %s (%s)%s%s", who, role, *detail ? ": " : "", detail);
	}
}

static void hist_row(const struct store_row *row, void *ctx)
{
	struct hist *h = ctx;
	char buf[8192], ts[40];

	h->last = row->id;
	if (h->fmt == HF_JSON && store_row_json(row, buf, sizeof(buf)) >= 0) {
		say(h->r, "%s\n", buf);
	} else if (h->fmt == HF_CSV && store_row_csv(row, buf, sizeof(buf)) >= 0) {
		say(h->r, "%s", buf);
	} else if (h->fmt == HF_TEXT) {
		events_fmt_ts(row->ts_us, ts, sizeof(ts));
		memcpy(ts + 19, "Z", 2);        /* to the second */
		hist_note(row, buf, sizeof(buf));
		say(h->r, "%-7" PRId64 " %-20s %-11s %-11s %-24s %s\n", row->id, ts, row->event,
		    *row->kind ? row->kind : "-", *row->src ? row->src : "-", buf);
	}
}

/* Rows come newest first: the last one seen is the first to send. */
static void hist_first(const struct store_row *row, void *ctx)
{
	struct hist *h = ctx;

	h->last = row->id - 1;
}

/* The next chunk, oldest first, after the last row sent. */
static int hist_next(void *state, struct reply *r, char *err, size_t errlen)
{
	struct hist *h = state;
	int n;

	h->f.after_id = h->last;
	h->f.oldest_first = 1;
	h->f.limit = h->left < HISTORY_CHUNK ? (uint32_t)h->left : HISTORY_CHUNK;
	h->r = r;
	if (!h->f.limit)
		return 0;
	if ((n = store_query(h->store, &h->f, hist_row, h)) < 0) {
		snprintf(err, errlen, "history: %s", strerror(-n));
		return n;
	}
	h->left -= (uint64_t)n;
	return (uint32_t)n == h->f.limit && h->left ? 1 : 0;
}

/* "1h" (that long ago), "2026-12-01", "2026-12-01T21:03" or
 * "2026-12-01T21:03:55Z" (UTC) into microseconds since the epoch. */
static int parse_when(const char *s, uint64_t *us)
{
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
					    "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
	uint64_t ms, now = (uint64_t)(ev_time() * 1e6);
	struct tm tm;
	const char *end;

	if (config_parse_duration_ms(s, &ms) == 0) {
		*us = ms * 1000 < now ? now - ms * 1000 : 1;
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, fmts[i], &tm)) && !*end && timegm(&tm) > 0) {
			*us = (uint64_t)timegm(&tm) * 1000000;
			return 0;
		}
	}
	return -EINVAL;
}

/* One "key=value" of a history request into h. */
static int hist_arg(struct hist *h, char *arg, char *err, size_t errlen)
{
	char *val = strchr(arg, '='), *end;
	struct ip_prefix p;
	unsigned long n;

	if (!val)
		goto bad;
	*val++ = '\0';
	if (!strcmp(arg, "since") || !strcmp(arg, "until")) {
		if (parse_when(val, !strcmp(arg, "since") ? &h->f.since_us : &h->f.until_us) < 0) {
			snprintf(err, errlen, "%s %s: expected a duration ago (90s, 5m, 2h, 1d) "
				 "or a UTC time (2026-12-01T21:03:55Z)", arg, val);
			return -EINVAL;
		}
	} else if (!strcmp(arg, "kind") && strlen(val) < sizeof(h->kind)) {
		h->f.kind = strcpy(h->kind, val);
	} else if (!strcmp(arg, "event") && strlen(val) < sizeof(h->event)) {
		h->f.event = strcpy(h->event, val);
	} else if (!strcmp(arg, "src") && prefix_parse(val, &p) == 0) {
		h->f.src = prefix_fmt(&p, h->src);
	} else if (!strcmp(arg, "limit") && (n = strtoul(val, &end, 10)) > 0 && !*end &&
		   n <= 100000000) {
		h->left = n;
	} else if (!strcmp(arg, "format") && (!strcmp(val, "text") || !strcmp(val, "json") ||
					    !strcmp(val, "csv"))) {
		h->fmt = *val == 't' ? HF_TEXT : *val == 'j' ? HF_JSON : HF_CSV;
	} else {
		val[-1] = '=';
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "%.64s: expected since=, until=, kind=, event=, src=ADDR, "
		 "limit=N or format=text|json|csv", arg);
	return -EINVAL;
}

/* Streams the rows oldest first; with a limit, the newest so many. */
static int cmd_history(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		       char *err, size_t errlen)
{
	struct hist *h;
	int rc = 0;

	if (!v->store) {
		snprintf(err, errlen, "history is off (set history in dosips.conf)");
		return -ENOTSUP;
	}
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->store = v->store;
	h->left = UINT64_MAX;
	for (int i = 0; i < argc && rc == 0; i++)
		rc = hist_arg(h, argv[i], err, errlen);
	if (rc == 0 && h->left != UINT64_MAX) {
		h->f.limit = (uint32_t)h->left;
		rc = store_query(v->store, &h->f, hist_first, h);
		if (rc < 0)
			snprintf(err, errlen, "history: %s", strerror(-rc));
		h->f.limit = 0;
	}
	if (rc < 0) {
		free(h);
		return rc;
	}
	if (h->fmt == HF_TEXT)
		say(r, "%-7s %-20s %-11s %-11s %-24s %s\n", "ID", "TIME (UTC)", "EVENT", "KIND",
		    "SOURCE", "NOTE");
	else if (h->fmt == HF_CSV)
		say(r, "%s", STORE_CSV_HEADER);
	r->more = (struct stream){ hist_next, h };
	return 0;
}

static int cmd_ack(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		   char *err, size_t errlen)
{
	char *end;
	long long id = strtoll(argv[0], &end, 10);
	int rc;

	if (!v->store) {
		snprintf(err, errlen, "history is off (set history in dosips.conf)");
		return -ENOTSUP;
	}
	if (*end || id <= 0) {
		snprintf(err, errlen, "%.64s: expected the id of an alert (dosipsctl history)",
			 argv[0]);
		return -EINVAL;
	}
	if ((rc = store_ack(v->store, id, "root", argv[1])) == -ENOENT)
		snprintf(err, errlen, "no alert with id %lld in the history", id);
	else if (rc < 0)
		snprintf(err, errlen, "cannot acknowledge %lld: %s", id, strerror(-rc));
	else
		say(r, "acknowledged %lld\n", id);
	return rc;
}

/* A change made here, on the bus and in the history: who, with which
 * role, what. */
static void audit(const struct ctl_view *v, uid_t uid, int argc, char **argv)
{
	char who[32], detail[CTL_LINE_MAX];
	const char *role = uid == 0 ? "admin" : "viewer";
	size_t n = 0;

	snprintf(who, sizeof(who), uid == 0 ? "root" : "uid %u", (unsigned)uid);
	detail[0] = '\0';
	for (int i = 1; i < argc && n < sizeof(detail); i++)
		n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s%s", i > 1 ? " " : "",
				      argv[i]);
	if (v->store && store_audit(v->store, who, role, argv[0], detail) < 0)
		log_warn("history: %s by %s not recorded: queue full", argv[0], who);
	else if (!v->store && v->bus)
		events_control(v->bus, who, role, argv[0], detail);
}

static void peer_time(struct reply *r, const char *what, double t)
{
	char dur[32];
	uint64_t ago = t > 0 ? (uint64_t)(ev_time() - t) : 0;

	if (t > 0)
		say(r, "%s: %s ago\n", what, fmt_dur(ago, dur));
	else
		say(r, "%s: never\n", what);
}

/* FlowSpec upstream: the speaker and what the announcements did. */
static void peers_bgp(const struct ctl_view *v, struct reply *r)
{
	struct bgp_stats bs;

	if (!v->bgp) {
		say(r, "bgp: off\n");
		return;
	}
	bgp_get_stats(v->bgp, &bs);
	say(r, "bgp: %s at %s\n", bgp_speaker(v->bgp), v->cfg->upstream_api);
	say(r, "bgp announcements: %" PRIu64 " active, %" PRIu64 " made, %" PRIu64
	    " withdrawn, %" PRIu64 " failed, %" PRIu64 " left out (max), %" PRIu64
	    " found in the speaker, %" PRIu64 " lost by it\n", bs.active, bs.made, bs.withdrawn,
	    bs.failed, bs.over_max, bs.adopted, bs.lost);
	say(r, "bgp session: %s\n", *bs.session ? bs.session : "not asked yet");
	say(r, "bgp last error: %s\n", *bs.last_error ? bs.last_error : "none");
}

/* The fleet links: CrowdSec's Local API, FlowSpec upstream. */
static int cmd_peers(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		     char *err, size_t errlen)
{
	struct crowdsec_stats cs;

	peers_bgp(v, r);
	if (!v->crowdsec) {
		say(r, "crowdsec: off\n");
		return 0;
	}
	crowdsec_get_stats(v->crowdsec, &cs);
	say(r, "crowdsec: %s %s%s%s\n", v->cfg->crowdsec_url, cs.api_up ? "up" : "down",
	    *cs.last_error ? ": " : "", cs.last_error);
	say(r, "crowdsec pushed: %" PRIu64 " (failed tries %" PRIu64 ")\n", cs.pushed,
	    cs.push_failures);
	say(r, "crowdsec queued: %" PRIu64 " (dropped when full %" PRIu64 ")\n", cs.queued,
	    cs.queue_dropped);
	peer_time(r, "crowdsec last push", cs.last_push);
	say(r, "crowdsec decisions: %" PRIu64 " new, %" PRIu64 " deleted; %" PRIu64
	    " banned here, %" PRIu64 " already banned, %" PRIu64 " refused, %" PRIu64
	    " lifted\n", cs.pulled_new, cs.pulled_deleted, cs.applied, cs.own, cs.refused,
	    cs.lifted);
	peer_time(r, "crowdsec last sync", cs.last_pull);
	return 0;
}

static int cmd_help(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		    char *err, size_t errlen);

static const struct ctl_cmd {
	const char *name;
	int min, max;       /* arguments */
	bool change;        /* root only */
	bool rest;          /* the last argument is the rest of the line */
	cmd_fn fn;
	const char *usage;
} ctl_cmds[] = {
	{ "status", 0, 0, false, false, cmd_status, "status" },
	{ "stats", 0, 0, false, false, cmd_stats, "stats" },
	{ "bans", 0, 0, false, false, cmd_bans, "bans" },
	{ "feeds", 0, 0, false, false, cmd_feeds, "feeds" },
	{ "ban", 1, 2, true, false, cmd_ban, "ban ADDR[/LEN] [SECONDS]" },
	{ "unban", 1, 1, true, false, cmd_unban, "unban ADDR[/LEN]" },
	{ "reload", 0, 0, true, false, cmd_reload, "reload" },
	{ "notify", 2, 2, true, false, cmd_notify, "notify test NAME" },
	{ "history", 0, 7, false, false, cmd_history,
	  "history [since=WHEN] [until=WHEN] [kind=K] [event=E] [src=ADDR] [limit=N] "
	  "[format=text|json|csv]" },
	{ "ack", 2, 2, true, true, cmd_ack, "ack ID NOTE" },
	{ "peers", 0, 0, false, false, cmd_peers, "peers" },
	{ "help", 0, 0, false, false, cmd_help, "help" },
};

#define NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static int cmd_help(const struct ctl_view *v, int argc, char **argv, struct reply *r,
		    char *err, size_t errlen)
{
	for (size_t i = 0; i < NCMDS; i++)
		say(r, "%s%s\n", ctl_cmds[i].usage, ctl_cmds[i].change ? " (root)" : "");
	return 0;
}

static const struct ctl_cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

static int dispatch(const struct ctl_view *v, int argc, char **argv, uid_t uid,
		    bool member, struct reply *r, char *err, size_t errlen)
{
	const struct ctl_cmd *c = cmd_find(argv[0]);
	int rc;

	if (!c) {
		snprintf(err, errlen, "unknown command %.64s (try help)", argv[0]);
		return -EINVAL;
	}
	if (uid != 0 && (c->change || !member)) {
		snprintf(err, errlen, "permission denied: %s needs root%s%s", c->name,
			 c->change || !*v->cfg->ctl_group ? "" : " or group ",
			 c->change ? "" : v->cfg->ctl_group);
		return -EPERM;
	}
	if (argc - 1 < c->min || argc - 1 > c->max) {
		snprintf(err, errlen, "usage: %s", c->usage);
		return -EINVAL;
	}
	rc = c->fn(v, argc - 1, argv + 1, r, err, errlen);
	if (rc >= 0 && c->change)
		audit(v, uid, argc, argv);
	return rc;
}

/* Splits buf at blanks into at most CTL_ARGS + 1 words (one too many
 * tells the caller there were too many). For a command taking the rest
 * of the line, its last argument is that rest, blanks and all. */
static int split_words(char *buf, char **argv)
{
	const struct ctl_cmd *c = NULL;
	char *p = buf, *e;
	int argc = 0;

	while (argc <= CTL_ARGS && *(p += strspn(p, " \t\r"))) {
		argv[argc++] = p;
		if (c && c->rest && argc == c->max + 1) {
			for (e = p + strlen(p); e > p && strchr(" \t\r", e[-1]); )
				*--e = '\0';
			break;
		}
		p += strcspn(p, " \t\r");
		if (*p)
			*p++ = '\0';
		if (argc == 1)
			c = cmd_find(argv[0]);
	}
	return argc;
}

/* The status line that ends every answer. */
static void finish(struct reply *r, int rc, const char *err)
{
	if (rc < 0)
		say(r, "error: %s\n", *err ? err : strerror(-rc));
	else
		say(r, "ok\n");
}

/* Answers line into r: the whole answer, or its first chunk with
 * r->more set (stream_step makes the rest). */
static void answer(const struct ctl_view *v, const char *line, uid_t uid, bool member,
		   struct reply *r)
{
	char buf[CTL_LINE_MAX], err[CONFIG_PATH_MAX + 256] = "", *argv[CTL_ARGS + 1];
	int argc, rc;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = split_words(buf, argv);
	if (argc == 0) {
		snprintf(err, sizeof(err), "empty request (try help)");
		rc = -EINVAL;
	} else if (argc > CTL_ARGS) {
		snprintf(err, sizeof(err), "too many arguments");
		rc = -E2BIG;
	} else {
		rc = dispatch(v, argc, argv, uid, member, r, err, sizeof(err));
	}
	if (!r->later && (rc < 0 || !r->more.next))
		finish(r, rc, err);
}

/* Appends the next chunk of a stream, and the status line after its last. */
static void stream_step(struct reply *r)
{
	char err[256] = "";
	int rc = r->more.next(r->more.state, r, err, sizeof(err));

	if (rc > 0 && !r->oom)
		return;
	free(r->more.state);
	r->more = (struct stream){ 0 };
	finish(r, rc, err);
}

char *ctl_answer(const struct ctl_view *v, const char *line, uid_t uid, bool member,
		 size_t *len)
{
	struct reply r = { .cap = 1024 };

	if (!(r.buf = malloc(r.cap)))
		return NULL;
	answer(v, line, uid, member, &r);
	while (r.more.next)
		stream_step(&r);
	if (r.oom) {
		free(r.buf);
		return NULL;
	}
	*len = r.len;
	return r.buf;
}

/* ---- the server --------------------------------------------------------- */

/*
 * A connection lives through three phases: reading its one request line,
 * writing the answer, and draining. Each phase has an absolute deadline set
 * when it begins (a client that trickles a byte a second gains nothing).
 * Draining: once the answer is out we shut our side for writing (the
 * client sees the end of the answer) and read away whatever it still sends
 * until it closes, because closing over unread input makes the kernel
 * report a reset to the client instead of our answer.
 *
 * Slots: CTL_CLIENTS connections at once. When they are all taken, the
 * oldest client that has been silent for a second is shed (it is told
 * why), so idle clients can never lock anybody out; when every slot is busy
 * answering, root still has CTL_ROOT_SLOTS of its own, and anybody else
 * is refused in words ("busy"), never with a reset.
 */

enum conn_phase { CONN_READ, CONN_WRITE, CONN_DRAIN };

struct conn {
	ev_io io;
	ev_timer deadline;
	struct ctl *c;
	struct conn *next;
	enum conn_phase phase;
	ev_tstamp since;    /* accepted at */
	uid_t uid;
	bool member;
	char in[CTL_LINE_MAX];
	size_t inlen;
	char *out;          /* the reply, once the request is answered */
	size_t outlen, outoff;
	struct stream more; /* the rest of a long reply, made as it is taken */
	bool waiting;       /* for a command that answers later */
};

struct ctl {
	struct ev_loop *loop;
	ev_io accept_io;
	ev_timer pause;     /* accepting again after running out of fds */
	int fd;
	char *path;
	gid_t gid;
	bool has_group;
	bool bound;         /* path is ours to remove */
	const struct ctl_view *view;
	struct conn *conns; /* newest first */
	unsigned nconns;
	uint64_t shed, refused;
};

static void conn_free(struct conn *k)
{
	struct conn **pp = &k->c->conns;

	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	k->c->nconns--;
	if (k->waiting)
		notify_test_cancel(k->c->view->notify, k);
	ev_io_stop(k->c->loop, &k->io);
	ev_timer_stop(k->c->loop, &k->deadline);
	close(k->io.fd);
	free(k->out);
	free(k->more.state);
	free(k);
}

/* Enters a phase: what to wait for, and a fresh absolute deadline. */
static void conn_phase(struct conn *k, enum conn_phase ph, int events, double secs)
{
	k->phase = ph;
	ev_io_stop(k->c->loop, &k->io);
	ev_io_set(&k->io, k->io.fd, events);
	ev_io_start(k->c->loop, &k->io);
	ev_timer_stop(k->c->loop, &k->deadline);
	ev_timer_set(&k->deadline, secs, 0);
	ev_timer_start(k->c->loop, &k->deadline);
}

/* A ban's reply is decided after its commit (mitigate_ban commits and
 * waits for the kernel's answer): an "ok" to a ban means it is in the
 * kernel. */
static void conn_reply(struct conn *k, char *out, size_t len)
{
	static const char oom[] = "error: out of memory\n";

	if (!out && (out = strdup(oom)))
		len = sizeof(oom) - 1;
	if (!out) {
		conn_free(k);
		return;
	}
	k->out = out;
	k->outlen = len;
	conn_phase(k, CONN_WRITE, EV_WRITE, CTL_REPLY_S);
}

/* The answer of a command that answered later (arg: its conn). */
static void ctl_later(void *arg, int rc, const char *answer)
{
	struct conn *k = arg;
	size_t len = strlen(answer) + 16;
	char *out = malloc(len);

	k->waiting = false;
	if (out)
		len = (size_t)snprintf(out, len, rc < 0 ? "error: %s\n" : "%s\nok\n", answer);
	conn_reply(k, out, len);
}

static void conn_answer(struct conn *k)
{
	struct reply r = { .cap = 1024, .k = k };
	char *nl = memchr(k->in, '\n', k->inlen);

	if (nl)
		*nl = '\0';
	if (!(r.buf = malloc(r.cap)))
		r.oom = true;
	else if (!nl && k->inlen == sizeof(k->in) - 1)
		say(&r, "error: request too long\n");
	else
		answer(k->c->view, k->in, k->uid, k->member, &r);
	if (r.later) {      /* quiet until the answer comes (ctl_later) */
		free(r.buf);
		k->waiting = true;
		ev_io_stop(k->c->loop, &k->io);
		ev_timer_stop(k->c->loop, &k->deadline);
		return;
	}
	if (r.oom) {
		free(r.buf);
		r.buf = NULL;
		free(r.more.state);
		r.more = (struct stream){ 0 };
	}
	k->more = r.more;
	conn_reply(k, r.buf, r.len);
}

/* The client took the last chunk: make the next one. */
static bool conn_more(struct conn *k)
{
	struct reply r = { .cap = 64 << 10, .more = k->more };

	if (!k->more.next || !(r.buf = malloc(r.cap)))
		return false;
	stream_step(&r);
	k->more = r.more;
	if (r.oom) {
		free(r.buf);
		return false;
	}
	free(k->out);
	k->out = r.buf;
	k->outlen = r.len;
	k->outoff = 0;
	return true;
}

/* Reads away input until the client closes (or the deadline). */
static void conn_drain(struct conn *k)
{
	char sink[4096];
	ssize_t n;

	while ((n = recv(k->io.fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_free(k);
}

static void conn_read(struct conn *k)
{
	ssize_t n = recv(k->io.fd, k->in + k->inlen, sizeof(k->in) - 1 - k->inlen, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n == 0 && k->inlen == 0)) {
		conn_free(k);
		return;
	}
	k->inlen += (size_t)n;
	k->in[k->inlen] = '\0';
	/* A request ends at a newline, at end of input, or at the size cap. */
	if (n == 0 || memchr(k->in, '\n', k->inlen) || k->inlen == sizeof(k->in) - 1)
		conn_answer(k);
}

static void conn_write(struct conn *k)
{
	ssize_t n = send(k->io.fd, k->out + k->outoff, k->outlen - k->outoff,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_free(k);
		return;
	}
	if ((k->outoff += (size_t)n) < k->outlen || conn_more(k))
		return;
	/* The end of the answer: the client reads it, then its end of file. */
	shutdown(k->io.fd, SHUT_WR);
	conn_phase(k, CONN_DRAIN, EV_READ, CTL_DRAIN_S);
	conn_drain(k);
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *k = w->data;

	switch (k->phase) {
	case CONN_READ: conn_read(k); break;
	case CONN_WRITE: conn_write(k); break;
	case CONN_DRAIN: conn_drain(k); break;
	}
}

static void on_conn_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *k = w->data;

	if (k->phase == CONN_READ)
		log_debug("control: dropping a client silent for %gs", CTL_IDLE_S);
	conn_free(k);
}

/* True when the peer belongs to the control group, primary or not. */
static bool peer_member(const struct ctl *c, int fd, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (!c->has_group)
		return false;
	if (gid == c->gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == c->gid)
			return true;
	return false;
}

/* Says msg and ends our side without a reset: what the client already
 * sent is read away first (a client still writing meets EPIPE, then reads
 * msg). The caller closes fd. */
static void say_last(int fd, const char *msg)
{
	char sink[4096];

	(void)send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

/* Whether k, still to send its request, has had its chance: connected a
 * while ago and nothing queued that we have not read yet. */
static bool conn_idle(struct conn *k, ev_tstamp now)
{
	char c;

	return k->phase == CONN_READ && !k->waiting && now - k->since >= CTL_SHED_AGE_S &&
	       recv(k->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* The client to shed for a newcomer: one answered already and closing,
 * else the oldest idle one that sent nothing, else the oldest idle one
 * part-way through its line; NULL when none may go. */
static struct conn *shed_pick(struct ctl *c)
{
	ev_tstamp now = ev_now(c->loop);
	struct conn *k, *silent = NULL, *partial = NULL;

	for (k = c->conns; k; k = k->next) {
		if (k->phase == CONN_DRAIN)
			return k;
		if (!conn_idle(k, now))
			continue;
		if (k->inlen == 0)
			silent = k;     /* the list is newest first: keeps the oldest */
		else
			partial = k;
	}
	return silent ? silent : partial;
}

static bool shed_idle(struct ctl *c)
{
	struct conn *k = shed_pick(c);

	if (!k)
		return false;
	if (k->phase == CONN_READ) {
		c->shed++;
		say_last(k->io.fd, "error: dropped to make room for another client\n");
	}
	conn_free(k);
	return true;
}

/* Whether a client of uid may have a slot now, shedding one if need be. */
static bool conn_admit(struct ctl *c, uid_t uid)
{
	if (c->nconns < CTL_CLIENTS || shed_idle(c))
		return true;
	return uid == 0 && c->nconns < CTL_CLIENTS + CTL_ROOT_SLOTS;
}

static int conn_new(struct ctl *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *k;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (!conn_admit(c, cred.uid))
		return -EBUSY;
	if (!(k = calloc(1, sizeof(*k))))
		return -ENOMEM;
	/* A client that does not read pins no more than this of the kernel's
	 * memory; the rest of a long answer waits in ours. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ CTL_SNDBUF }, sizeof(int));
	k->c = c;
	k->since = ev_now(c->loop);
	k->uid = cred.uid;
	k->member = peer_member(c, fd, cred.gid);
	ev_io_init(&k->io, on_conn_io, fd, EV_READ);
	ev_timer_init(&k->deadline, on_conn_deadline, CTL_IDLE_S, 0);
	k->io.data = k->deadline.data = k;
	ev_io_start(c->loop, &k->io);
	ev_timer_start(c->loop, &k->deadline);
	k->next = c->conns;
	c->conns = k;
	c->nconns++;
	return 0;
}

static void on_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *c = w->data;

	ev_io_start(loop, &c->accept_io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl *c = w->data;

	for (int i = 0; i < CTL_CLIENTS; i++) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			       errno == ENOBUFS)) {
			/* The listener stays readable: without a pause this would spin. */
			log_warn("control: cannot accept: %s; pausing 1s", strerror(errno));
			ev_io_stop(loop, &c->accept_io);
			ev_timer_start(loop, &c->pause);
			return;
		}
		if (fd < 0)
			return;
		if (conn_new(c, fd) < 0) {
			if (c->refused++ % 100 == 0)
				log_warn("control: every slot busy answering; client refused "
					 "(%" PRIu64 " so far)", c->refused);
			say_last(fd, "error: dosips is busy with other clients, try again\n");
			close(fd);
		}
	}
}

/* ---- the listening socket ---------------------------------------------- */

/* Clears path for bind: a socket nobody answers on is a leftover of a
 * crash; a live one belongs to another dosips. */
static int clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sun->sun_path);
		return -EEXIST;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0 || errno == EAGAIN) {
		snprintf(err, errlen, "%s: another dosips is running there "
			 "(give each instance its own control_socket)", sun->sun_path);
		return -EADDRINUSE;
	}
	return unlink(sun->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

int ctl_group_id(const char *group, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(group, &gr, buf, sizeof(buf), &res);

	if (!res) {
		snprintf(err, errlen, "control_group %s: %s", group, r ? strerror(r) : "no such group");
		return r ? -r : -ENOENT;
	}
	*gid = gr.gr_gid;
	return 0;
}

/* Binds while the umask keeps the socket private, then opens it to the
 * group: there is no moment where others could connect. */
static int bind_socket(struct ctl *c, const struct sockaddr_un *sun)
{
	mode_t old = umask(0177);
	int r = bind(c->fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	if (r < 0)
		return -errno;
	c->bound = true;
	if (c->has_group && (chown(sun->sun_path, (uid_t)-1, c->gid) < 0 ||
			     chmod(sun->sun_path, 0660) < 0))
		return -errno;
	return listen(c->fd, CTL_CLIENTS) < 0 ? -errno : 0;
}

/* Makes the socket's directory if it is missing (systemd makes
 * /run/dosips with RuntimeDirectory=; a start by hand does not): one
 * level, mode 0755, the socket's own mode guards it. */
static void make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0)
			log_debug("control: made %s", dir);
	}
}

static int ctl_listen(struct ctl *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	make_parent(path);
	if ((r = clear_stale(&sun, err, errlen)) < 0) {
		if (!*err)
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if ((r = bind_socket(c, &sun)) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

int ctl_open(struct ev_loop *loop, const char *path, const char *group,
	     const struct ctl_view *view, struct ctl **out, char *err, size_t errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int r;

	*err = '\0';
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->loop = loop;
	c->view = view;
	if (*group && (r = ctl_group_id(group, &c->gid, err, errlen)) < 0)
		goto fail;
	c->has_group = *group;
	if (!(c->path = strdup(path))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = ctl_listen(c, path, err, errlen)) < 0)
		goto fail;
	ev_io_init(&c->accept_io, on_accept, c->fd, EV_READ);
	ev_timer_init(&c->pause, on_pause, 1.0, 0);
	c->accept_io.data = c->pause.data = c;
	ev_io_start(loop, &c->accept_io);
	*out = c;
	return 0;
fail:
	if (!*err)
		snprintf(err, errlen, "control socket %s: %s", path, strerror(-r));
	if (c->bound)
		unlink(path);
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	return r;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	while (c->conns)
		conn_free(c->conns);
	ev_io_stop(c->loop, &c->accept_io);
	ev_timer_stop(c->loop, &c->pause);
	close(c->fd);
	/* Fails harmlessly after a drop to another user: the next start
	 * replaces the leftover. */
	unlink(c->path);
	free(c->path);
	free(c);
}
