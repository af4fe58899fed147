/* events.h - alerts, bans and unbans as log lines, JSON lines and hooks. */
#ifndef DOSIPS_EVENTS_H
#define DOSIPS_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "detect.h"

enum event_type { EV_ALERT, EV_BAN, EV_UNBAN, EV_WHITELISTED, EV_BAN_CAP };

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
};

struct events;

/* Opens the JSON sink: NULL for none, "-" for stdout, else a file appended
 * to. 0 or -errno. */
int events_open(const char *path, struct events **out);

/* Logs e as one human line and, if a sink is open, one JSON object line. */
void events_emit(struct events *ev, const struct event *e);

/* Reopens the sink by path (log rotation); 0 or -errno, old sink kept on
 * failure. */
int events_reopen(struct events *ev);

/* Formats e as one JSON object (no newline) into buf; returns its length
 * or -1 if len is too small. */
int events_json(const struct event *e, char *buf, size_t len);

/* Points the sink at another path (reload); "" or NULL for none. 0 or
 * -errno, the old sink kept on failure. */
int events_set_path(struct events *ev, const char *path);

struct hooks;

/* Hands every later ban and unban to h as well (NULL: no hooks). */
void events_set_hooks(struct events *ev, struct hooks *h);

/* Formats ts_us as RFC 3339 UTC with microseconds, as in the JSON lines. */
void events_fmt_ts(uint64_t ts_us, char *buf, size_t len);

/* Closes the sink; NULL is fine. */
void events_close(struct events *ev);

/* The reason events name: a detector's kind, or "manual" for a ban made
 * by hand or adopted from the kernel (kind KIND__MAX, see mitigate.h). */
const char *event_kind_name(enum detect_kind k);

/* Name of a type ("alert", "ban", ...). */
const char *event_type_name(enum event_type t);

#endif
