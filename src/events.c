/* events.c - every alert, ban and unban as a log line and a JSON line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "hooks.h"
#include "log.h"

struct events {
	char *path;     /* NULL when JSON lines go nowhere */
	int fd;
	struct hooks *hooks;
};

const char *event_kind_name(enum detect_kind k)
{
	return k == KIND__MAX ? "manual" : detect_kind_name(k);
}

const char *event_type_name(enum event_type t)
{
	static const char *const names[] = {
		[EV_ALERT] = "alert", [EV_BAN] = "ban", [EV_UNBAN] = "unban",
		[EV_WHITELISTED] = "whitelisted", [EV_BAN_CAP] = "ban_cap",
	};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

static int events_open_fd(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int events_open(const char *path, struct events **out)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	ev->fd = -1;
	if (path && *path) {
		if (!(ev->path = strdup(path)) || (ev->fd = events_open_fd(path)) < 0) {
			int r = ev->path ? -errno : -ENOMEM;

			free(ev->path);
			free(ev);
			return r;
		}
	}
	*out = ev;
	return 0;
}

int events_reopen(struct events *ev)
{
	int fd;

	if (!ev->path || strcmp(ev->path, "-") == 0)
		return 0;
	if ((fd = events_open_fd(ev->path)) < 0)
		return -errno;
	close(ev->fd);
	ev->fd = fd;
	return 0;
}

int events_set_path(struct events *ev, const char *path)
{
	char *p = NULL;
	int fd = -1;

	if (path && *path) {
		if (!(p = strdup(path)))
			return -ENOMEM;
		if ((fd = events_open_fd(path)) < 0) {
			free(p);
			return -errno;
		}
	}
	if (ev->fd >= 0)
		close(ev->fd);
	free(ev->path);
	ev->path = p;
	ev->fd = fd;
	return 0;
}

void events_set_hooks(struct events *ev, struct hooks *h)
{
	ev->hooks = h;
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	if (ev->fd >= 0)
		close(ev->fd);
	free(ev->path);
	free(ev);
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

/* Appends to buf at *n; sets *n past len on overflow so the caller fails. */
__attribute__((format(printf, 4, 5)))
static void put(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	*n += w < 0 ? len : (size_t)w;
}

/* The detail fields of an alert (or whitelisted report) in JSON. */
static void json_verdict(const struct verdict *v, char *buf, size_t len, size_t *n)
{
	char dst[ADDR_STRLEN];

	put(buf, len, n, ",\"kind\":\"%s\",\"count\":%u,\"threshold\":%u,\"window_s\":%g",
	    detect_kind_name(v->kind), v->count, v->threshold, v->window_ms / 1000.0);
	put(buf, len, n, ",\"dst\":\"%s\",\"proto\":\"%s\"", addr_fmt(&v->dst, dst),
	    proto_name(v->proto));
	if (v->technique)
		put(buf, len, n, ",\"technique\":\"%s\"", v->technique);
	if (v->kind == KIND_REFLECTION)
		put(buf, len, n, ",\"port\":%u", v->port);
}

int events_json(const struct event *e, char *buf, size_t len)
{
	char ts[40], src[ADDR_STRLEN];
	size_t n = 0;

	events_fmt_ts(e->ts_us, ts, sizeof(ts));
	put(buf, len, &n, "{\"ts\":\"%s\",\"event\":\"%s\"", ts, event_type_name(e->type));
	if (e->src.len)
		put(buf, len, &n, ",\"src\":\"%s\"", prefix_fmt(&e->src, src));
	else
		put(buf, len, &n, ",\"src\":null");
	if (e->v)
		json_verdict(e->v, buf, len, &n);
	else if (e->type != EV_BAN_CAP)
		put(buf, len, &n, ",\"kind\":\"%s\"", event_kind_name(e->kind));
	if (e->type == EV_BAN)
		put(buf, len, &n, ",\"duration_s\":%u,\"offences\":%u", e->duration_s, e->offences);
	if (e->reason)
		put(buf, len, &n, ",\"reason\":\"%s\"", e->reason);
	put(buf, len, &n, "}");
	return n < len ? (int)n : -1;
}

/* The same event for a person, through log.c. */
static void events_log(const struct event *e)
{
	char src[ADDR_STRLEN], dst[ADDR_STRLEN];
	const struct verdict *v = e->v;
	const char *who = e->src.len ? prefix_fmt(&e->src, src) : "many sources";

	switch (e->type) {
	case EV_ALERT:
	case EV_WHITELISTED:
		log_info("%s %s from %s: %u in %gs (threshold %u) to %s%s",
			 e->type == EV_ALERT ? "alert" : "whitelisted",
			 detect_kind_name(v->kind), who, v->count, v->window_ms / 1000.0,
			 v->threshold, addr_fmt(&v->dst, dst),
			 e->type == EV_WHITELISTED ? ", not banned" : "");
		break;
	case EV_BAN:
		log_info("ban %s for %us (%s, offence %u)", who, e->duration_s,
			 event_kind_name(e->kind), e->offences);
		break;
	case EV_UNBAN:
		log_info("unban %s (%s)", who, e->reason ? e->reason : "expired");
		break;
	case EV_BAN_CAP:
		log_warn("ban cap reached: %s not banned (%s)", who,
			 e->reason ? e->reason : "raise max_bans");
		break;
	}
}

void events_emit(struct events *ev, const struct event *e)
{
	char line[1024];
	int n;

	events_log(e);
	if (!ev || (ev->fd < 0 && !ev->hooks))
		return;
	if ((n = events_json(e, line, sizeof(line) - 1)) < 0)
		return;
	line[n] = '\n';
	/* One write per line: O_APPEND keeps lines whole for concurrent readers. */
	if (ev->fd >= 0 && write(ev->fd, line, (size_t)n + 1) != n + 1)
		log_warn("events: write to %s failed: %s", ev->path, strerror(errno));
	/* Hooks only start here and run on their own: see hooks.c. */
	if (ev->hooks)
		hooks_run(ev->hooks, e, line, (size_t)n);
}
