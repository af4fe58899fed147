/* events.c - the event bus, and the JSON and log forms of an event.
 *
 * mitigate publishes each alert, ban and unban once; everything that wants
 * to know (the log, the JSON-lines file in jsonl.c, hooks, metrics, the
 * page, the history) subscribes in main.c. The JSON line is formatted once
 * per event here and handed to all of them, so the file, the hooks and the
 * page see the very same bytes. A fixed array of subscribers keeps
 * publishing allocation-free: there are a handful, known at set-up. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fmt.h"
#include "log.h"

#define EVENTS_SUBS 16

struct events_sub {
	events_fn fn;
	void *ctx;
};

struct events {
	struct events_sub sub[EVENTS_SUBS];
	unsigned n;
	events_tag_fn tag;
	void *tag_ctx;
};

void events_set_tagger(struct events *bus, events_tag_fn fn, void *ctx)
{
	bus->tag = fn;
	bus->tag_ctx = ctx;
}

/* The tagger's fields go in place of the closing brace of line (n bytes). */
static int events_tag(struct events *bus, const struct event *e, char *line, size_t cap, int n)
{
	size_t t;

	if (!bus->tag || n < 2 || (size_t)n + 2 > cap)
		return n;
	t = bus->tag(e, line + n - 1, cap - (size_t)n - 1, bus->tag_ctx);
	if (t == 0) {
		line[n - 1] = '}';
		line[n] = '\0';
		return n;
	}
	n += (int)t - 1;
	line[n++] = '}';
	line[n] = '\0';
	return n;
}

const char *event_type_name(enum event_type t)
{
	static const char *const names[] = {
		[EVT_ALERT] = "alert", [EVT_BAN] = "ban", [EVT_UNBAN] = "unban",
		[EVT_WHITELISTED] = "whitelisted", [EVT_BAN_CAP] = "ban_cap",
		[EVT_BAN_FAILED] = "ban_failed", [EVT_CONTROL] = "control",
		[EVT_SUPPRESSED] = "suppressed",
		[EVT_ENRICH] = "enrich",
	};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

int events_new(struct events **out)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return -ENOMEM;
	return 0;
}

int events_subscribe(struct events *bus, events_fn fn, void *ctx)
{
	if (bus->n == EVENTS_SUBS)
		return -ENOSPC;
	bus->sub[bus->n++] = (struct events_sub){ fn, ctx };
	return 0;
}

void events_unsubscribe(struct events *bus, events_fn fn, void *ctx)
{
	for (unsigned i = 0; bus && i < bus->n; i++) {
		if (bus->sub[i].fn != fn || bus->sub[i].ctx != ctx)
			continue;
		memmove(&bus->sub[i], &bus->sub[i + 1], (bus->n - i - 1) * sizeof(bus->sub[0]));
		bus->n--;
		return;
	}
}

void events_free(struct events *bus)
{
	free(bus);
}

/* RFC 3339 UTC with microseconds: 2026-11-21T21:03:55.123456Z */
void events_fmt_ts(uint64_t ts_us, char *buf, size_t len)
{
	time_t sec = (time_t)(ts_us / 1000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06uZ", (unsigned)(ts_us % 1000000));
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default: return "other";
	}
}

/* The detail fields of an alert (or whitelisted report) in JSON. */
static void json_verdict(const struct verdict *v, char *buf, size_t len, size_t *n)
{
	char dst[ADDR_STRLEN];

	fmt_append(buf, len, n, ",\"kind\":\"%s\",\"count\":%u,\"threshold\":%u,\"window_s\":%g",
		   detect_kind_name(v->kind), v->count, v->threshold, v->window_ms / 1000.0);
	fmt_append(buf, len, n, ",\"dst\":\"%s\",\"proto\":\"%s\"", addr_fmt(&v->dst, dst),
		   proto_name(v->proto));
	if (v->technique)
		fmt_append(buf, len, n, ",\"technique\":\"%s\"", v->technique);
	if (v->kind == KIND_REFLECTION || (v->service && v->port))
		fmt_append(buf, len, n, ",\"port\":%u", v->port);
	if (v->service)
		fmt_append(buf, len, n, ",\"service\":true");
}

void events_json_string(char *buf, size_t len, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*n < len)
		buf[(*n)++] = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c && *n + 7 < len; c++) {
		if (*c == '"' || *c == '\\') {
			buf[(*n)++] = '\\';
			buf[(*n)++] = (char)*c;
		} else if (*c < 0x20 || *c == 0x7f) {
			memcpy(buf + *n, "\\u00", 4);
			buf[*n + 4] = hex[*c >> 4];
			buf[*n + 5] = hex[*c & 15];
			*n += 6;
		} else {
			buf[(*n)++] = (char)*c;
		}
	}
	if (*n < len)
		buf[(*n)++] = '"';
}

/* who, role, action and detail of a control action. */
static void json_control(const struct event *e, char *buf, size_t len, size_t *n)
{
	const char *const keys[] = { "who", "role", "action", "detail" };
	const char *const vals[] = { e->who, e->role, e->action, e->args };

	for (int i = 0; i < 4; i++) {
		fmt_append(buf, len, n, ",\"%s\":", keys[i]);
		events_json_string(buf, len, n, vals[i] ? vals[i] : "");
	}
}

int events_json(const struct event *e, char *buf, size_t len)
{
	char ts[40], src[ADDR_STRLEN];
	size_t n = 0;

	events_fmt_ts(e->ts_us, ts, sizeof(ts));
	fmt_append(buf, len, &n, "{\"ts\":\"%s\",\"event\":\"%s\"", ts, event_type_name(e->type));
	if (e->type == EVT_CONTROL) {
		json_control(e, buf, len, &n);
		fmt_append(buf, len, &n, "}");
		return n < len ? (int)n : -1;
	}
	if (e->src.len)
		fmt_append(buf, len, &n, ",\"src\":\"%s\"", prefix_fmt(&e->src, src));
	else
		fmt_append(buf, len, &n, ",\"src\":null");
	if (e->v)
		json_verdict(e->v, buf, len, &n);
	else if (e->type != EVT_BAN_CAP && e->type != EVT_ENRICH)
		fmt_append(buf, len, &n, ",\"kind\":\"%s\"", detect_kind_name(e->kind));
	if (e->type == EVT_BAN || e->type == EVT_BAN_FAILED)
		fmt_append(buf, len, &n, ",\"duration_s\":%u,\"offences\":%u", e->duration_s, e->offences);
	if (e->reason)
		fmt_append(buf, len, &n, ",\"reason\":\"%s\"", e->reason);
	if (e->detail)
		fmt_append(buf, len, &n, "%s", e->detail);
	fmt_append(buf, len, &n, "}");
	return n < len ? (int)n : -1;
}

bool events_limited(enum event_type t)
{
	return t == EVT_ALERT || t == EVT_WHITELISTED || t == EVT_BAN_CAP;
}

int events_suppressed_json(const struct ratelimit_report *r, char *buf, size_t len)
{
	char ts[40];
	size_t n = 0;

	events_fmt_ts(r->end_us, ts, sizeof(ts));
	fmt_append(buf, len, &n, "{\"ts\":\"%s\",\"event\":\"suppressed\",\"of\":\"%s\","
		   "\"count\":%" PRIu64 ",\"sources\":%u,\"window_s\":%g}", ts,
		   event_type_name(r->cls), r->suppressed, r->sources,
		   (r->end_us - r->start_us) / 1e6);
	return n < len ? (int)n : -1;
}

static void log_suppressed(const struct ratelimit_report *r, void *ctx)
{
	log_info("%s: %" PRIu64 " more lines suppressed (from %u sources) in %gs",
		 event_type_name(r->cls), r->suppressed, r->sources,
		 (r->end_us - r->start_us) / 1e6);
}

void events_log_tick(struct ratelimit *rl, uint64_t now_us)
{
	ratelimit_tick(rl, now_us, log_suppressed, NULL);
}

void events_log(const struct event *e, const char *json, size_t len, void *ctx)
{
	char src[ADDR_STRLEN], dst[ADDR_STRLEN];
	const struct verdict *v = e->v;
	const char *who = e->src.len ? prefix_fmt(&e->src, src) : "many sources";

	if (events_limited(e->type) &&
	    !ratelimit_allow(ctx, e->type, &e->src, e->ts_us, log_suppressed, NULL))
		return;
	switch (e->type) {
	case EVT_ALERT:
	case EVT_WHITELISTED:
		log_info("%s %s from %s: %u in %gs (threshold %u) to %s%s",
			 e->type == EVT_ALERT ? "alert" : "whitelisted",
			 detect_kind_name(v->kind), who, v->count, v->window_ms / 1000.0,
			 v->threshold, addr_fmt(&v->dst, dst),
			 e->type == EVT_WHITELISTED ? ", not banned" : "");
		break;
	case EVT_BAN:
		log_info("ban %s for %us (%s, offence %u)", who, e->duration_s,
			 detect_kind_name(e->kind), e->offences);
		break;
	case EVT_UNBAN:
		log_info("unban %s (%s)", who, e->reason ? e->reason : "expired");
		break;
	case EVT_ENRICH:
		log_info("enrich %s:%s", who, e->detail ? e->detail : "");
		break;
	case EVT_BAN_CAP:
		log_warn("ban cap reached: %s not banned (%s)", who,
			 e->reason ? e->reason : "raise max_bans");
		break;
	case EVT_BAN_FAILED:
		log_warn("ban of %s for %us (%s) not in force: %s", who, e->duration_s,
			 detect_kind_name(e->kind), e->reason ? e->reason : "refused");
		break;
	case EVT_CONTROL:
		log_info("control: %s (%s): %s%s%s", e->who, e->role, e->action,
			 e->args && *e->args ? " " : "", e->args ? e->args : "");
		break;
	case EVT_SUPPRESSED:
		break;
	}
}

void events_control(struct events *bus, const char *who, const char *role,
		    const char *action, const char *detail)
{
	struct timespec now;
	char cut[257];

	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(cut, sizeof(cut), "%s", detail ? detail : "");
	events_publish(bus, &(struct event){
		.type = EVT_CONTROL, .who = who, .role = role, .action = action, .args = cut,
		.ts_us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000,
	});
}

void events_publish(struct events *bus, const struct event *e)
{
	char line[1024];
	int n;

	if (!bus || !bus->n)
		return;
	/* An event too long for a line still reaches every subscriber, with an
	 * empty JSON text rather than a cut one. */
	if ((n = events_json(e, line, sizeof(line))) < 0)
		n = 0;
	line[n] = '\0';
	n = events_tag(bus, e, line, sizeof(line), n);
	for (unsigned i = 0; i < bus->n; i++)
		bus->sub[i].fn(e, line, (size_t)n, bus->sub[i].ctx);
}
