/* store.h - the history: every event of the bus, and every control action,
 * in an SQLite database that can be searched, acknowledged and exported. */
#ifndef DOSIPS_STORE_H
#define DOSIPS_STORE_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "events.h"

struct store;

/* What a query selects; zero/NULL fields select everything. Rows come
 * newest first (page with before_id), or oldest first (page with
 * after_id); a limit keeps the first rows in that order. */
struct store_filter {
	uint64_t since_us, until_us;   /* ts_us >= since, ts_us < until (0: open) */
	const char *kind;              /* "syn_flood", "manual", ... */
	const char *event;             /* "alert", "ban", "control", ... */
	const char *src;               /* address or prefix: rows whose src overlaps it */
	uint32_t limit;                /* at most this many rows (0: all) */
	int64_t before_id;             /* > 0: only ids below it */
	int64_t after_id;              /* > 0: only ids above it */
	int oldest_first;              /* ascending id order */
};

/* One stored event, valid only during the row callback. Strings are never
 * NULL ("" when absent); json is the event's JSON line as the bus gave it
 * (or the control action's, see store_audit). */
struct store_row {
	int64_t id;
	uint64_t ts_us;
	const char *event, *kind, *src, *json;
	int acked;
	const char *ack_by, *ack_note;
	uint64_t ack_ts_us;
};

struct store_stats {
	uint64_t queued;        /* events taken from the bus or audited */
	uint64_t written;       /* rows committed */
	uint64_t batches;       /* transactions committed */
	uint64_t failed;        /* batches that could not be written (retried) */
	uint64_t dropped;       /* events lost: queue full while writes failed */
	uint64_t pruned;        /* rows removed by retention */
	uint32_t pending;       /* queued, not yet written */
	uint64_t max_batch_us;  /* slowest commit */
	uint64_t checkpoints;   /* WAL checkpoints run by the checkpoint thread */
	int last_error;         /* SQLite result code of the last failure, 0 when fine */
};

/* Opens (creating if needed) the database at path in WAL mode and starts
 * its watchers on loop: a batch writer that runs once per loop iteration
 * after the firewall's, and an hourly retention pass that drops rows older
 * than retention_days (0: keep all). A database locked by another process
 * is not an error here (writes are retried); anything else is: 0, or
 * -errno with a sentence in err. */
int store_open(struct ev_loop *loop, const char *path, uint32_t retention_days,
	       struct store **out, char *err, size_t errlen);

/* The bus subscriber (ctx: the struct store): copies the event into the
 * queue, which the loop writes in one transaction per iteration. Never
 * touches the disk. */
void store_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Writes what is queued now, in one transaction; 0 or -errno (-EBUSY
 * locked, -ENOSPC full, -EIO other), the queue kept for a retry. */
int store_flush(struct store *s);

/* Calls row for each stored event f selects (queued ones are written
 * first); returns the number of rows, or -errno. f may be NULL. */
int store_query(struct store *s, const struct store_filter *f,
		void (*row)(const struct store_row *r, void *ctx), void *ctx);

/* The row as one JSON object: its event's JSON with "id" first and, when
 * acknowledged, "ack":{"by","note","ts"} last. Its length, or -1 when
 * len is too small (4096 is always enough for a row from the bus). */
int store_row_json(const struct store_row *r, char *buf, size_t len);

/* The CSV header line (RFC 4180, CRLF-free: "\n" ends lines). */
#define STORE_CSV_HEADER "id,ts,event,kind,src,ack_by,ack_note,ack_ts,json\n"

/* The row as one CSV line with newline, fields as in STORE_CSV_HEADER;
 * its length or -1 when len is too small. */
int store_row_csv(const struct store_row *r, char *buf, size_t len);

/* Acknowledges alert id with who and note (replacing an earlier ack); 0,
 * -ENOENT when id is no stored alert, or -errno. */
int store_ack(struct store *s, int64_t id, const char *who, const char *note);

/* Records a control action (ban, unban, ack, reload, tuning...) as an
 * event of type "control" with who, role, action and detail in its JSON
 * (see events_control), written with the next batch. With a bus (see
 * store_set_bus) it is published there, so the log, the events file and
 * the page see it too; else it is queued directly. 0, or -ENOSPC when the
 * queue is full. */
int store_audit(struct store *s, const char *who, const char *role, const char *action,
		const char *detail);

/* The bus store_on_event is subscribed to, for store_audit to publish on;
 * NULL for none. */
void store_set_bus(struct store *s, struct events *bus);

/* A new retention (reload); the next pass applies it. */
void store_set_retention(struct store *s, uint32_t retention_days);

/* Drops rows older than the retention now; the number dropped or -errno. */
int store_prune(struct store *s);

/* Copies the counters; NULL s gives zeros. */
void store_get_stats(const struct store *s, struct store_stats *st);

/* Writes what is queued (one try), stops the watchers and closes the
 * database; NULL is fine. */
void store_free(struct store *s);

#endif
