/* store.c - the history: every event in SQLite, written off the packet path.
 *
 * The bus subscriber only copies an event into a queue in memory. A
 * prepare watcher of the lowest priority -- so it runs after the one that
 * sends the firewall's netlink batch -- writes the whole queue in ONE
 * transaction per loop iteration, through prepared statements. The
 * database is in WAL mode with synchronous=NORMAL: a commit is one
 * append to the log without an fsync, and a committed batch survives the
 * process being killed (only a power cut can take the last ones back). A
 * kill -9 thus loses at most the batch still queued.
 *
 * Writing must never stop the protection. A database locked by another
 * process (busy_timeout is short: the loop must not wait) or a full disk
 * rolls the batch back and keeps it queued; writes are retried with a
 * growing pause (1 s to 32 s), the operator is told once and then at most
 * once a minute, and past QUEUE_MAX waiting events new ones are counted
 * as dropped. Bans go on as before: nothing here is on their path.
 *
 * The one step of SQLite that does wait for the disk, copying the WAL back
 * into the database with an fsync (a checkpoint), is done by a thread of
 * its own, off the loop (see the checkpointer below).
 *
 * Control actions (dosipsctl, the page) are stored the same way as events
 * of type "control" with who, role, action and detail in their JSON.
 * Retention is an hourly pass deleting rows older than history_days, in
 * chunks so that a long backlog never holds the loop for long. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "store.h"

#define QUEUE_MAX 100000        /* events waiting while writes fail */
#define BUSY_MS 50              /* the longest the loop waits for a lock */
#define FINAL_BUSY_MS 1000      /* and store_free, when the loop is over */
#define RETRY_MIN_S 1.0
#define RETRY_MAX_S 32.0
#define WARN_EVERY_S 60.0       /* a failing database is reported this often */
#define PRUNE_EVERY_S 3600.0
#define PRUNE_CHUNK 10000       /* rows deleted per statement */
#define CKPT_PAGES 1000         /* WAL pages that call for a checkpoint */
#define US 1000000ull

struct pending {
	uint64_t ts_us;
	char event[16];
	char kind[24];
	char src[ADDR_STRLEN];
	char *json;
};

enum stmt { ST_BEGIN, ST_INSERT, ST_COMMIT, ST_ROLLBACK, ST_ACK, ST_PRUNE, ST__MAX };

static const char *const stmt_sql[ST__MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_INSERT] = "INSERT INTO events(ts_us, event, kind, src, json) VALUES (?,?,?,?,?)",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_ACK] = "UPDATE events SET ack_by = ?, ack_note = ?, ack_ts_us = ? "
		   "WHERE id = ? AND event = 'alert'",
	[ST_PRUNE] = "DELETE FROM events WHERE id IN "
		     "(SELECT id FROM events WHERE ts_us < ? ORDER BY ts_us LIMIT ?)",
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" ts_us INTEGER NOT NULL,"
	" event TEXT NOT NULL,"
	" kind TEXT NOT NULL DEFAULT '',"
	" src TEXT NOT NULL DEFAULT '',"
	" json TEXT NOT NULL,"
	" ack_by TEXT, ack_note TEXT, ack_ts_us INTEGER);"
	"CREATE INDEX IF NOT EXISTS events_ts ON events(ts_us);";

/* The checkpointer thread and what it shares with the loop (under mu). */
struct ckpt {
	sqlite3 *db;                /* its own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool armed;                 /* the loop runs: set-up (and its privileges) is over */
	bool started, due, stop;
	uint64_t done;              /* checkpoints run (atomic) */
};

struct store {
	struct ev_loop *loop;
	struct events *bus;         /* where control actions go, or NULL */
	sqlite3 *db;
	struct ckpt ckpt;
	char *path;
	sqlite3_stmt *st[ST__MAX];
	struct pending *q;
	size_t n, cap;
	uint32_t retention_days;
	ev_prepare writer;
	ev_timer retry, prune;
	double pause_s;             /* retry pause while failing, 0 when fine */
	double warned_at;           /* last time a failure was reported */
	uint64_t streak;            /* failed batches since the last success */
	char why[256];              /* the last failure in words */
	int sys_errno;              /* and the system's error behind it */
	struct store_stats stats;
};

/* ---- errors -------------------------------------------------------------- */

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	case SQLITE_CONSTRAINT: case SQLITE_MISMATCH: case SQLITE_RANGE: return -EINVAL;
	default: return -EIO;
	}
}

/* What a failure means to an operator, in one sentence. */
static const char *why(struct store *s, int rc)
{
	int sys = s->sys_errno;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "the database is locked by another process";
	case SQLITE_FULL:
		return "the disk (or the database's size cap) is full";
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		if (sys) {
			snprintf(s->why, sizeof(s->why), "%s (%s)", sqlite3_errstr(rc),
				 strerror(sys));
			return s->why;
		}
		/* fall through */
	default:
		return sqlite3_errmsg(s->db);
	}
}

/* Rate-limited: the first failure of a streak, then once a minute. */
static void report_failure(struct store *s, int rc)
{
	double now = ev_now(s->loop);

	s->stats.last_error = rc;
	if (s->streak++ && now - s->warned_at < WARN_EVERY_S)
		return;
	s->warned_at = now;
	log_err("history: cannot write %s: %s; bans go on, %u events wait in memory "
		"(%" PRIu64 " dropped so far), retrying", s->path, why(s, rc),
		(unsigned)s->n, s->stats.dropped);
}

static void report_recovery(struct store *s)
{
	if (!s->streak)
		return;
	log_info("history: writing %s again after %" PRIu64 " failed tries (%" PRIu64
		 " events dropped)", s->path, s->streak, s->stats.dropped);
	s->streak = 0;
	s->stats.last_error = 0;
}

/* ---- the queue and the writer ------------------------------------------- */

static void queue_clear(struct store *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s->q[i].json);
	if (n && n < s->n)
		memmove(s->q, s->q + n, (s->n - n) * sizeof(*s->q));
	s->n -= n;
}

/* The next free slot, or NULL (counted as dropped) when full. */
static struct pending *queue_slot(struct store *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct pending *q;

	if (s->n == s->cap) {
		if (s->n >= QUEUE_MAX || !(q = realloc(s->q, cap * sizeof(*q)))) {
			s->stats.dropped++;
			return NULL;
		}
		s->q = q;
		s->cap = cap;
	}
	return &s->q[s->n];
}

/* Runs a statement without results and resets it; the SQLite code. */
static int step(struct store *s, sqlite3_stmt *st)
{
	int rc;

	errno = 0;
	rc = sqlite3_step(st);
	/* SQLite keeps the system's error for few failures (not a short
	 * write); errno right after the call is the next best witness. */
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		s->sys_errno = sqlite3_system_errno(s->db) ? sqlite3_system_errno(s->db) : errno;
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int insert(struct store *s, const struct pending *p)
{
	sqlite3_stmt *st = s->st[ST_INSERT];

	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->ts_us);
	sqlite3_bind_text(st, 2, p->event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->json, -1, SQLITE_STATIC);
	return step(s, st);
}

/* The whole queue in one transaction; the SQLite code. */
static int write_batch(struct store *s)
{
	int rc = step(s, s->st[ST_BEGIN]);

	for (size_t i = 0; rc == SQLITE_OK && i < s->n; i++)
		rc = insert(s, &s->q[i]);
	if (rc == SQLITE_OK)
		rc = step(s, s->st[ST_COMMIT]);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(s->db))
		step(s, s->st[ST_ROLLBACK]);
	sqlite3_clear_bindings(s->st[ST_INSERT]);
	return rc;
}

static void schedule_retry(struct store *s)
{
	s->pause_s = s->pause_s ? s->pause_s * 2 : RETRY_MIN_S;
	if (s->pause_s > RETRY_MAX_S)
		s->pause_s = RETRY_MAX_S;
	ev_prepare_stop(s->loop, &s->writer);
	ev_timer_stop(s->loop, &s->retry);
	ev_timer_set(&s->retry, s->pause_s, 0);
	ev_timer_start(s->loop, &s->retry);
}

int store_flush(struct store *s)
{
	double t0;
	uint64_t us;
	int rc;

	if (!s->n)
		return 0;
	t0 = ev_time();
	if ((rc = write_batch(s)) != SQLITE_OK) {
		s->stats.failed++;
		report_failure(s, rc);
		schedule_retry(s);
		return errno_of(rc);
	}
	us = (uint64_t)((ev_time() - t0) * 1e6);
	if (us > s->stats.max_batch_us)
		s->stats.max_batch_us = us;
	s->stats.written += s->n;
	s->stats.batches++;
	queue_clear(s, s->n);
	s->pause_s = 0;
	ev_timer_stop(s->loop, &s->retry);
	ev_prepare_stop(s->loop, &s->writer);
	report_recovery(s);
	return 0;
}

static void on_writer(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct store *s = w->data;

	s->ckpt.armed = true;
	store_flush(s);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct store *s = w->data;

	s->ckpt.armed = true;
	store_flush(s);
}

/* Wakes the writer for this iteration, unless a retry pause runs. */
static void queued(struct store *s)
{
	s->n++;
	s->stats.queued++;
	if (!ev_is_active(&s->retry))
		ev_prepare_start(s->loop, &s->writer);
}

void store_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct store *s = ctx;
	struct pending *p = queue_slot(s);

	if (!p || !(p->json = strndup(json, len))) {
		if (p)
			s->stats.dropped++;
		return;
	}
	p->ts_us = e->ts_us;
	snprintf(p->event, sizeof(p->event), "%s", event_type_name(e->type));
	if (e->type == EVT_CONTROL)
		snprintf(p->kind, sizeof(p->kind), "%s", e->action ? e->action : "");
	else if (e->v)
		snprintf(p->kind, sizeof(p->kind), "%s", detect_kind_name(e->v->kind));
	else if (e->type == EVT_BAN_CAP || e->type == EVT_ENRICH)
		p->kind[0] = '\0';     /* none in their JSON either */
	else
		snprintf(p->kind, sizeof(p->kind), "%s", detect_kind_name(e->kind));
	if (e->src.len)
		prefix_fmt(&e->src, p->src);
	else
		p->src[0] = '\0';
	queued(s);
}

/* ---- the checkpointer ---------------------------------------------------------
 *
 * A commit in WAL mode appends to the log without an fsync; a checkpoint
 * copies the log back into the database and fsyncs both, which can take
 * tens of milliseconds. SQLite runs it inside the commit that takes the
 * log past 1000 pages -- that would be on the loop. Our WAL hook replaces
 * that automatic checkpoint and wakes a thread that runs PASSIVE
 * checkpoints on a connection of its own: they never block the writer.
 * The connection is opened with the store, before privileges are dropped
 * (the files are root's then); the thread starts at the first checkpoint
 * once the loop runs (armed by the store's watchers), so after the drop:
 * it holds no more than the loop's capabilities. It blocks every signal,
 * so signals stay the loop's. A commit before that leaves the log to the
 * next one. */

static void *ckpt_main(void *arg)
{
	struct ckpt *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->due && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->due = false;
		pthread_mutex_unlock(&c->mu);
		if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
					      NULL) == SQLITE_OK)
			__atomic_add_fetch(&c->done, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static bool ckpt_start(struct ckpt *c)
{
	sigset_t all, old;
	bool ok;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(&c->thread, NULL, ckpt_main, c) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* Called by SQLite after each commit with the log's size in pages. */
static int on_wal(void *ctx, sqlite3 *db, const char *name, int pages)
{
	struct ckpt *c = ctx;
	bool running;

	if (pages < CKPT_PAGES || !c->armed)
		return SQLITE_OK;
	pthread_mutex_lock(&c->mu);
	if (!c->started && !(c->started = ckpt_start(c)))
		log_warn("history: no checkpoint thread; checkpointing in the loop");
	running = c->started;
	c->due = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (!running)
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static int ckpt_open(struct store *s)
{
	struct ckpt *c = &s->ckpt;
	int rc;

	rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	/* A first read makes it see the WAL, and opens the files now. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		sqlite3_wal_hook(s->db, on_wal, c);
	return rc;
}

static void ckpt_close(struct ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

/* ---- control actions ------------------------------------------------------ */

int store_audit(struct store *s, const char *who, const char *role, const char *action,
		const char *detail)
{
	struct event e = { .type = EVT_CONTROL, .who = who, .role = role, .action = action,
			   .args = detail ? detail : "" };
	uint64_t dropped = s->stats.dropped;
	char json[2048];
	int n;

	/* On the bus, the store hears it with everyone else. */
	if (s->bus) {
		events_control(s->bus, who, role, action, detail);
		return 0;
	}
	e.ts_us = (uint64_t)(ev_time() * 1e6);
	if ((n = events_json(&e, json, sizeof(json))) < 0)
		return -E2BIG;
	store_on_event(&e, json, (size_t)n, s);
	return s->stats.dropped == dropped ? 0 : -ENOSPC;
}

void store_set_bus(struct store *s, struct events *bus)
{
	s->bus = bus;
}

/* ---- acknowledgement and retention ------------------------------------------ */

int store_ack(struct store *s, int64_t id, const char *who, const char *note)
{
	sqlite3_stmt *st = s->st[ST_ACK];
	int rc;

	store_flush(s);
	sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, note ? note : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(ev_time() * 1e6));
	sqlite3_bind_int64(st, 4, id);
	rc = step(s, st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK) {
		log_err("history: cannot acknowledge %" PRId64 ": %s", id, why(s, rc));
		return errno_of(rc);
	}
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int store_prune(struct store *s)
{
	sqlite3_stmt *st = s->st[ST_PRUNE];
	uint64_t now = (uint64_t)(ev_now(s->loop) * 1e6), keep;
	int rc;

	if (!s->retention_days)
		return 0;
	keep = (uint64_t)s->retention_days * 86400 * US;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(now > keep ? now - keep : 0));
	sqlite3_bind_int(st, 2, PRUNE_CHUNK);
	if ((rc = step(s, st)) != SQLITE_OK) {
		log_warn("history: retention pass failed: %s", why(s, rc));
		return errno_of(rc);
	}
	rc = sqlite3_changes(s->db);
	s->stats.pruned += (uint64_t)rc;
	return rc;
}

/* A full chunk deleted means more is due: the next pass comes soon. */
static void on_prune(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct store *s = w->data;
	int r;

	s->ckpt.armed = true;
	r = store_prune(s);
	w->repeat = r == PRUNE_CHUNK ? 1.0 : PRUNE_EVERY_S;
	ev_timer_again(loop, w);
}

void store_set_retention(struct store *s, uint32_t retention_days)
{
	s->retention_days = retention_days;
}

/* ---- queries ------------------------------------------------------------- */

/* SQL function src_overlaps(src, filter): whether the stored source (an
 * address or prefix, "" for none) and the filter's prefix overlap, so
 * that 198.18.0.0/24 finds every address in it and 2001:db8::5 finds the
 * ban of 2001:db8::/64. */
static void fn_overlaps(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	const char *a = (const char *)sqlite3_value_text(argv[0]);
	const char *b = (const char *)sqlite3_value_text(argv[1]);
	struct ip_prefix pa, pb;

	if (!a || !b || prefix_parse(a, &pa) < 0 || prefix_parse(b, &pb) < 0) {
		sqlite3_result_int(cx, 0);
		return;
	}
	sqlite3_result_int(cx, pa.len <= pb.len ? prefix_contains(&pa, &pb.addr)
						: prefix_contains(&pb, &pa.addr));
}

/* Appends " AND cond" to sql at *n. */
static void where(char *sql, size_t len, size_t *n, bool on, const char *cond)
{
	if (on && *n < len)
		*n += (size_t)snprintf(sql + *n, len - *n, " AND %s", cond);
}

/* The query for f, its parameters numbered by meaning (?1 since ...). */
static void query_sql(const struct store_filter *f, char *sql, size_t len)
{
	char cond[512] = "1";
	size_t n = 1;

	where(cond, sizeof(cond), &n, f->since_us, "ts_us >= ?1");
	where(cond, sizeof(cond), &n, f->until_us, "ts_us < ?2");
	where(cond, sizeof(cond), &n, f->kind && *f->kind, "kind = ?3");
	where(cond, sizeof(cond), &n, f->event && *f->event, "event = ?4");
	where(cond, sizeof(cond), &n, f->src && *f->src, "src_overlaps(src, ?5)");
	where(cond, sizeof(cond), &n, f->before_id > 0, "id < ?6");
	where(cond, sizeof(cond), &n, f->after_id > 0, "id > ?7");
	snprintf(sql, len, "SELECT id, ts_us, event, kind, src, json, ack_by, ack_note, "
		 "ack_ts_us FROM events WHERE %s ORDER BY id %s LIMIT ?8", cond,
		 f->oldest_first ? "ASC" : "DESC");
}

static void query_bind(sqlite3_stmt *st, const struct store_filter *f)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->since_us);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)f->until_us);
	sqlite3_bind_text(st, 3, f->kind ? f->kind : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f->event ? f->event : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->src ? f->src : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, f->before_id);
	sqlite3_bind_int64(st, 7, f->after_id);
	sqlite3_bind_int64(st, 8, f->limit ? (sqlite3_int64)f->limit : -1);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static void row_of(sqlite3_stmt *st, struct store_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->ts_us = (uint64_t)sqlite3_column_int64(st, 1);
	r->event = col_text(st, 2);
	r->kind = col_text(st, 3);
	r->src = col_text(st, 4);
	r->json = col_text(st, 5);
	r->acked = sqlite3_column_type(st, 6) != SQLITE_NULL;
	r->ack_by = col_text(st, 6);
	r->ack_note = col_text(st, 7);
	r->ack_ts_us = (uint64_t)sqlite3_column_int64(st, 8);
}

int store_query(struct store *s, const struct store_filter *f,
		void (*row)(const struct store_row *r, void *ctx), void *ctx)
{
	static const struct store_filter all;
	struct store_row r;
	sqlite3_stmt *st;
	char sql[2048];
	int rc, count = 0;

	/* A locked database still reads (WAL): the rows written so far. */
	store_flush(s);
	query_sql(f ? f : &all, sql, sizeof(sql));
	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK) {
		log_err("history: query failed: %s", why(s, rc));
		return errno_of(rc);
	}
	query_bind(st, f ? f : &all);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_of(st, &r);
		if (row)
			row(&r, ctx);
		count++;
	}
	if (rc != SQLITE_DONE)
		log_err("history: query failed: %s", why(s, rc));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? count : errno_of(rc);
}

/* ---- a row as text ------------------------------------------------------ */

int store_row_json(const struct store_row *r, char *buf, size_t len)
{
	char ts[40];
	size_t n = (size_t)snprintf(buf, len, "{\"id\":%" PRId64 ",", r->id);
	size_t body = strlen(r->json);

	/* The event's own fields, without its braces. */
	if (body < 2 || n + body >= len)
		return -1;
	memcpy(buf + n, r->json + 1, body - 2);
	n += body - 2;
	if (r->acked) {
		events_fmt_ts(r->ack_ts_us, ts, sizeof(ts));
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, ",\"ack\":{\"by\":");
		events_json_string(buf, len, &n, r->ack_by);
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, ",\"note\":");
		events_json_string(buf, len, &n, r->ack_note);
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, ",\"ts\":\"%s\"}", ts);
	}
	if (n + 2 > len)
		return -1;
	buf[n++] = '}';
	buf[n] = '\0';
	return (int)n;
}

/* Appends s as one CSV field (quoted when it must be) and sep. */
static void csv_field(char *buf, size_t len, size_t *n, const char *s, char sep)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote && *n < len)
		buf[(*n)++] = '"';
	for (; *s && *n + 3 < len; s++) {
		if (*s == '"')
			buf[(*n)++] = '"';
		buf[(*n)++] = *s;
	}
	if (quote && *n < len)
		buf[(*n)++] = '"';
	if (*n < len)
		buf[(*n)++] = sep;
}

int store_row_csv(const struct store_row *r, char *buf, size_t len)
{
	char id[24], ts[40], ack_ts[40] = "";
	size_t n = 0;

	snprintf(id, sizeof(id), "%" PRId64, r->id);
	events_fmt_ts(r->ts_us, ts, sizeof(ts));
	if (r->acked)
		events_fmt_ts(r->ack_ts_us, ack_ts, sizeof(ack_ts));
	csv_field(buf, len, &n, id, ',');
	csv_field(buf, len, &n, ts, ',');
	csv_field(buf, len, &n, r->event, ',');
	csv_field(buf, len, &n, r->kind, ',');
	csv_field(buf, len, &n, r->src, ',');
	csv_field(buf, len, &n, r->ack_by, ',');
	csv_field(buf, len, &n, r->ack_note, ',');
	csv_field(buf, len, &n, ack_ts, ',');
	csv_field(buf, len, &n, r->json, '\n');
	if (n + 4 > len)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* ---- opening and closing ---------------------------------------------------- */

void store_get_stats(const struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	*st = s->stats;
	st->pending = (uint32_t)s->n;
	st->checkpoints = __atomic_load_n(&s->ckpt.done, __ATOMIC_RELAXED);
}

/* WAL, synchronous=NORMAL, a short lock wait, the table, the statements. */
static int store_init_db(struct store *s)
{
	static const char pragmas[] =
		"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
	int rc;

	sqlite3_busy_timeout(s->db, BUSY_MS);
	sqlite3_extended_result_codes(s->db, 1);
	if ((rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_create_function(s->db, "src_overlaps", 2,
				     SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_overlaps,
				     NULL, NULL);
	for (int i = 0; rc == SQLITE_OK && i < ST__MAX; i++)
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&s->st[i], NULL);
	return rc == SQLITE_OK ? ckpt_open(s) : rc;
}

static void store_watchers(struct store *s, struct ev_loop *loop)
{
	s->loop = loop;
	ev_prepare_init(&s->writer, on_writer);
	/* Prepare watchers run by priority: the firewall's batch goes first. */
	ev_set_priority(&s->writer, EV_MINPRI);
	ev_timer_init(&s->retry, on_retry, RETRY_MIN_S, 0);
	ev_timer_init(&s->prune, on_prune, 0, PRUNE_EVERY_S);
	s->writer.data = s->retry.data = s->prune.data = s;
	ev_timer_again(loop, &s->prune);
	/* Neither the pass nor a retry may keep a replay's loop alive. */
	ev_unref(loop);
}

int store_open(struct ev_loop *loop, const char *path, uint32_t retention_days,
	       struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, errlen, "history %s: out of memory", path);
		return -ENOMEM;
	}
	s->retention_days = retention_days;
	pthread_mutex_init(&s->ckpt.mu, NULL);
	pthread_cond_init(&s->ckpt.cv, NULL);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = store_init_db(s);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "history %s: %s", path,
			 s->db ? why(s, rc) : sqlite3_errstr(rc));
		rc = errno_of(rc);
		store_free(s);
		return rc;
	}
	store_watchers(s, loop);
	store_prune(s);
	*out = s;
	return 0;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->loop) {
		/* The last try may wait a little longer for a lock: the loop
		 * is over. */
		sqlite3_busy_timeout(s->db, FINAL_BUSY_MS);
		if (s->n && store_flush(s) < 0)
			log_err("history: %u events could not be written to %s", (unsigned)s->n,
				s->path);
		ev_prepare_stop(s->loop, &s->writer);
		ev_timer_stop(s->loop, &s->retry);
		ev_ref(s->loop);
		ev_timer_stop(s->loop, &s->prune);
	}
	queue_clear(s, s->n);
	ckpt_close(&s->ckpt);
	for (int i = 0; i < ST__MAX; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s->q);
	free(s->path);
	free(s);
}
