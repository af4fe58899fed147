/* events.h - the event bus: alerts, bans and unbans, published once. */
#ifndef DOSIPS_EVENTS_H
#define DOSIPS_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "detect.h"
#include "ratelimit.h"

enum event_type {
	EVT_ALERT, EVT_BAN, EVT_UNBAN, EVT_WHITELISTED, EVT_BAN_CAP,
	EVT_BAN_FAILED,   /* the kernel refused a ban: not in force (reason says why) */
	EVT_SUPPRESSED,   /* a subscriber's own summary of lines it held back */
	EVT_ENRICH,       /* more about an alert's source (abuseipdb.c), in detail */
};

/* One event; fields unused by a type stay zero. */
struct event {
	enum event_type type;
	uint64_t ts_us;            /* packet time for alerts, clock otherwise */
	struct ip_prefix src;      /* offender (len 0 for ddos) */
	const struct verdict *v;   /* the alert behind it, or NULL */
	enum detect_kind kind;     /* reason for bans/unbans */
	uint32_t duration_s;       /* ban length */
	uint32_t offences;         /* how many bans this source has had lately */
	const char *reason;        /* unban: "expired", "manual", ... */
	const char *detail;        /* more JSON fields (",\"k\":v..."), or NULL */
};

/*
 * The bus. Every alert, ban, unban and report is published once; each
 * subscriber (the log, the JSON-lines file, hooks, and whatever main wires
 * in) gets the event and its JSON line, formatted once for all of them.
 * Subscribers run synchronously, in the order they subscribed, on the
 * loop's thread: they must not block and must not publish in turn.
 */
struct events;

/* A subscriber: e, and e as one JSON object (no newline) of len bytes. */
typedef void (*events_fn)(const struct event *e, const char *json, size_t len, void *ctx);

/* Makes an empty bus; 0 or -ENOMEM. */
int events_new(struct events **out);

/* Adds fn(ctx) after the subscribers already there; 0 or -ENOSPC. */
int events_subscribe(struct events *bus, events_fn fn, void *ctx);

/* Removes the subscription fn(ctx); one that is not there is fine. */
void events_unsubscribe(struct events *bus, events_fn fn, void *ctx);

/* A tagger adds fields to an event's JSON: it writes ",\"key\":value..."
 * into buf (at most len bytes with the NUL) and returns their length, or 0
 * for none (also when they do not fit). Called once per event, before the
 * subscribers, at publish time only (feeds.c: the feeds listing the source). */
typedef size_t (*events_tag_fn)(const struct event *e, char *buf, size_t len, void *ctx);

/* Sets the bus's one tagger (NULL fn: none). */
void events_set_tagger(struct events *bus, events_tag_fn fn, void *ctx);

/* Hands e to every subscriber. NULL bus: nothing happens. */
void events_publish(struct events *bus, const struct event *e);

/* Frees the bus (not its subscribers); NULL is fine. */
void events_free(struct events *bus);

/* The log subscriber: e as one line for a person, through log.c. ctx is
 * NULL or a struct ratelimit that alert, whitelisted and ban_cap lines
 * pass through (bans and unbans always go out). */
void events_log(const struct event *e, const char *json, size_t len, void *ctx);

/* Logs the "N suppressed" summaries of ctx's windows ended by now_us
 * (UINT64_MAX: all, at exit). */
void events_log_tick(struct ratelimit *rl, uint64_t now_us);

/* Whether lines of type t may be held back by a subscriber's limiter:
 * those a flood of sources multiplies (alert, whitelisted, ban_cap),
 * never a ban or an unban. */
bool events_limited(enum event_type t);

/* A limiter's summary as a JSON object (no newline): {"ts": end of the
 * window, "event":"suppressed", "of": the type held back, "count",
 * "sources", "window_s"}; its length or -1 if len is too small. */
int events_suppressed_json(const struct ratelimit_report *r, char *buf, size_t len);

/* Formats e as one JSON object (no newline) into buf; returns its length
 * or -1 if len is too small. */
int events_json(const struct event *e, char *buf, size_t len);

/* Formats ts_us as RFC 3339 UTC with microseconds, as in the JSON lines. */
void events_fmt_ts(uint64_t ts_us, char *buf, size_t len);

/* Name of a type ("alert", "ban", ...). */
const char *event_type_name(enum event_type t);

#endif
