/* test_store.c - the history: batching per loop iteration, query filters,
 * acknowledgement, audit, retention, and writes that fail (a lock held by
 * another connection, a file size limit) without losing what is queued.
 * What is on disk is read back through a second, independent SQLite
 * connection, not through the store. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "events.h"
#include "store.h"

#define DAY_US 86400000000ull

static char dir[64], path[128];
static struct ev_loop *loop;

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/history.db", dir);
	assert_non_null(loop = ev_loop_new(EVFLAG_AUTO));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	ev_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct store *open_store(uint32_t days)
{
	struct store *s = NULL;
	char err[256];

	assert_int_equal(store_open(loop, path, days, &s, err, sizeof(err)), 0);
	return s;
}

/* Publishes one event as the bus would: through events_json. */
static void put(struct store *s, enum event_type t, enum detect_kind k, const char *src,
		uint64_t ts_us)
{
	struct verdict v = { .kind = k, .ts_us = ts_us, .count = 100, .threshold = 100,
			     .window_ms = 5000, .proto = 6 };
	struct event e = { .type = t, .ts_us = ts_us, .kind = k, .duration_s = 60,
			   .offences = 1 };
	char json[1024];
	int n;

	if (src)
		assert_int_equal(prefix_parse(src, &e.src), 0);
	v.src = e.src;
	if (t == EVT_ALERT || t == EVT_WHITELISTED)
		e.v = &v;
	assert_true((n = events_json(&e, json, sizeof(json))) > 0);
	store_on_event(&e, json, (size_t)n, s);
}

/* SELECT count(*) ... through a connection of our own. */
static long long disk_count(const char *where)
{
	char sql[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE %s", where);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

struct rows {
	int n;
	int64_t id[64];
	char src[64][64];
	char json[64][512];
	int acked[64];
	char ack_by[64][32], ack_note[64][64];
};

static void collect(const struct store_row *r, void *ctx)
{
	struct rows *rs = ctx;

	if (rs->n == 64)
		return;
	rs->id[rs->n] = r->id;
	snprintf(rs->src[rs->n], sizeof(rs->src[0]), "%s", r->src);
	snprintf(rs->json[rs->n], sizeof(rs->json[0]), "%s", r->json);
	rs->acked[rs->n] = r->acked;
	snprintf(rs->ack_by[rs->n], sizeof(rs->ack_by[0]), "%s", r->ack_by);
	snprintf(rs->ack_note[rs->n], sizeof(rs->ack_note[0]), "%s", r->ack_note);
	rs->n++;
}

static int query(struct store *s, const struct store_filter *f, struct rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	return store_query(s, f, collect, rs);
}

/* Nothing is written by the subscriber itself; one loop iteration writes
 * everything queued in one transaction. */
static void test_batch_per_iteration(void **state)
{
	struct store *s = open_store(0);
	struct store_stats st;

	put(s, EVT_ALERT, KIND_SYN_FLOOD, "198.18.0.66", 1000);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.66", 1001);
	put(s, EVT_UNBAN, KIND_SYN_FLOOD, "198.18.0.66", 1002);
	assert_int_equal(disk_count("1"), 0);
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(disk_count("1"), 3);
	store_get_stats(s, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.written, 3);
	assert_int_equal(st.pending, 0);
	/* An iteration with nothing queued writes nothing. */
	ev_run(loop, EVRUN_NOWAIT);
	store_get_stats(s, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(disk_count("event = 'ban' AND kind = 'syn_flood' AND "
				    "src = '198.18.0.66' AND ts_us = 1001"), 1);
	store_free(s);
}

/* store_free writes what is still queued. */
static void test_free_writes_queue(void **state)
{
	struct store *s = open_store(0);

	put(s, EVT_BAN, KIND_MANUAL, "198.18.0.7", 5);
	store_free(s);
	assert_int_equal(disk_count("kind = 'manual'"), 1);
}

static void fill(struct store *s)
{
	put(s, EVT_ALERT, KIND_SYN_FLOOD, "198.18.0.66", 1 * DAY_US);      /* id 1 */
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.66", 1 * DAY_US + 1);    /* 2 */
	put(s, EVT_ALERT, KIND_UDP_FLOOD, "198.18.1.9", 2 * DAY_US);       /* 3 */
	put(s, EVT_ALERT, KIND_PORT_SCAN, "2001:db8:1:2::/64", 3 * DAY_US);/* 4 */
	put(s, EVT_BAN, KIND_PORT_SCAN, "2001:db8:1:2::/64", 3 * DAY_US);  /* 5 */
	put(s, EVT_ALERT, KIND_DDOS, NULL, 4 * DAY_US);                    /* 6 */
	put(s, EVT_UNBAN, KIND_SYN_FLOOD, "198.18.0.66", 5 * DAY_US);      /* 7 */
}

static void test_query_filters(void **state)
{
	struct store *s = open_store(0);
	struct rows rs;

	fill(s);
	assert_int_equal(query(s, NULL, &rs), 7);
	assert_int_equal(rs.id[0], 7);   /* newest first */
	assert_int_equal(query(s, &(struct store_filter){ .event = "alert" }, &rs), 4);
	assert_int_equal(query(s, &(struct store_filter){ .kind = "syn_flood" }, &rs), 3);
	assert_int_equal(query(s, &(struct store_filter){ .kind = "port_scan", .event = "ban" },
			       &rs), 1);
	assert_int_equal(rs.id[0], 5);
	assert_int_equal(query(s, &(struct store_filter){ .since_us = 2 * DAY_US,
							  .until_us = 4 * DAY_US }, &rs), 3);
	assert_int_equal(rs.id[0], 5);
	assert_int_equal(rs.id[2], 3);
	/* An address finds the /64 it is in; a /16 finds every address in it. */
	assert_int_equal(query(s, &(struct store_filter){ .src = "2001:db8:1:2::99" }, &rs), 2);
	assert_int_equal(query(s, &(struct store_filter){ .src = "198.18.0.0/16" }, &rs), 4);
	assert_int_equal(query(s, &(struct store_filter){ .src = "198.18.0.66" }, &rs), 3);
	assert_int_equal(query(s, &(struct store_filter){ .src = "198.18.0.67" }, &rs), 0);
	/* Paging both ways, and a limit that keeps the newest. */
	assert_int_equal(query(s, &(struct store_filter){ .limit = 2, .before_id = 6 }, &rs), 2);
	assert_int_equal(rs.id[0], 5);
	assert_int_equal(rs.id[1], 4);
	assert_int_equal(query(s, &(struct store_filter){ .limit = 3, .oldest_first = 1 }, &rs),
			 3);
	assert_int_equal(rs.id[0], 1);
	assert_int_equal(rs.id[2], 3);
	assert_int_equal(query(s, &(struct store_filter){ .after_id = 5, .oldest_first = 1 },
			       &rs), 2);
	assert_int_equal(rs.id[0], 6);
	assert_string_equal(rs.src[0], "");
	assert_non_null(strstr(rs.json[0], "\"src\":null,\"kind\":\"ddos\""));
	store_free(s);
}

static void test_ack(void **state)
{
	struct store *s = open_store(0);
	struct rows rs;

	fill(s);
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(store_ack(s, 3, "root", "known scanner"), 0);
	assert_int_equal(store_ack(s, 2, "root", "a ban"), -ENOENT);
	assert_int_equal(store_ack(s, 99, "root", "nothing"), -ENOENT);
	assert_int_equal(disk_count("ack_by IS NOT NULL"), 1);
	assert_int_equal(disk_count("id = 3 AND ack_by = 'root' AND ack_note = 'known scanner'"
				    " AND ack_ts_us > 0"), 1);
	assert_int_equal(query(s, &(struct store_filter){ .event = "alert", .limit = 2,
							  .before_id = 4 }, &rs), 2);
	assert_int_equal(rs.id[0], 3);
	assert_true(rs.acked[0]);
	assert_string_equal(rs.ack_by[0], "root");
	assert_string_equal(rs.ack_note[0], "known scanner");
	assert_false(rs.acked[1]);
	store_free(s);
}

static void test_audit(void **state)
{
	struct store *s = open_store(0);
	struct rows rs;

	assert_int_equal(store_audit(s, "token ops", "admin", "unban",
				     "198.18.0.66 \"by hand\"\n"), 0);
	assert_int_equal(query(s, &(struct store_filter){ .event = "control" }, &rs), 1);
	assert_non_null(strstr(rs.json[0], "\"event\":\"control\",\"who\":\"token ops\","
				    "\"role\":\"admin\",\"action\":\"unban\","
				    "\"detail\":\"198.18.0.66 \\\"by hand\\\"\\u000a\"}"));
	assert_int_equal(disk_count("event = 'control' AND kind = 'unban'"), 1);
	store_free(s);
}

/* With a bus, an audited action is published there (the log, the events
 * file and the page hear it) and stored once, through the subscription. */
static void test_audit_on_bus(void **state)
{
	struct store *s = open_store(0);
	struct events *bus;

	assert_int_equal(events_new(&bus), 0);
	assert_int_equal(events_subscribe(bus, store_on_event, s), 0);
	store_set_bus(s, bus);
	assert_int_equal(store_audit(s, "root", "admin", "reload", ""), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(disk_count("event = 'control' AND kind = 'reload' AND src = '' AND "
				    "json LIKE '%\"who\":\"root\",\"role\":\"admin\",\"action\":"
				    "\"reload\",\"detail\":\"\"}'"), 1);
	assert_int_equal(disk_count("1"), 1);
	store_free(s);
	events_free(bus);
}

/* Rows older than the retention go, at open and on each pass. */
static void test_retention(void **state)
{
	uint64_t now;
	struct store *s = open_store(0);

	ev_now_update(loop);
	now = (uint64_t)(ev_now(loop) * 1e6);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.1", now - 40 * DAY_US);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.2", now - 31 * DAY_US);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.3", now - 29 * DAY_US);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.4", now);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_prune(s), 0);   /* 0 days: keep all */
	store_set_retention(s, 30);
	assert_int_equal(store_prune(s), 2);
	assert_int_equal(disk_count("1"), 2);
	assert_int_equal(disk_count("src = '198.18.0.1' OR src = '198.18.0.2'"), 0);
	store_free(s);
	s = open_store(7);                     /* the pass at open */
	assert_int_equal(disk_count("1"), 1);
	store_free(s);
}

/* Another connection holds the write lock: the batch stays queued, is
 * retried, and lands once the lock is gone. */
static void test_locked(void **state)
{
	struct store *s = open_store(0);
	struct store_stats st;
	sqlite3 *other;

	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.66", 1);
	put(s, EVT_BAN, KIND_SYN_FLOOD, "198.18.0.67", 2);
	assert_int_equal(store_flush(s), -EBUSY);
	store_get_stats(s, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.last_error & 0xff, SQLITE_BUSY);
	put(s, EVT_UNBAN, KIND_SYN_FLOOD, "198.18.0.66", 3);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(store_flush(s), 0);
	store_get_stats(s, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.written, 3);
	assert_int_equal(st.last_error, 0);
	assert_int_equal(disk_count("1"), 3);
	store_free(s);
}

/* The file may not grow (RLIMIT_FSIZE, as a full disk would refuse): the
 * write fails, nothing queued is lost, and with room again all lands. In
 * a child, so the limit stays there. */
static void test_cannot_grow(void **state)
{
	pid_t pid = fork();
	int status, n = 0, r = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 256 << 10, RLIM_INFINITY };
		struct store *s = open_store(0);
		struct store_stats st;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(10);
		for (; n < 100000 && r == 0; n++) {
			put(s, EVT_BAN, KIND_SYN_FLOOD, "2001:db8:ffff:ffff:ffff:ffff:ffff:fff0", n);
			if (n % 100 == 99)
				r = store_flush(s);
		}
		store_get_stats(s, &st);
		if (r != -EIO || st.pending != 100 || st.failed != 1)
			_exit(11);
		rl.rlim_cur = RLIM_INFINITY;
		setrlimit(RLIMIT_FSIZE, &rl);
		if (store_flush(s) != 0)
			_exit(12);
		store_free(s);
		_exit(disk_count("1") == n ? 0 : 13);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The row forms ctl and the page send: JSON with id and ack, RFC 4180 CSV. */
static void test_row_text(void **state)
{
	struct store_row r = {
		.id = 42, .ts_us = 1795295035123456ull, .event = "alert", .kind = "syn_flood",
		.src = "198.18.0.66", .json = "{\"ts\":\"x\",\"event\":\"alert\"}",
		.acked = 1, .ack_by = "root", .ack_note = "said \"hi\", twice",
		.ack_ts_us = 1795295036000000ull,
	};
	char buf[4096], small[40];

	assert_true(store_row_json(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":42,\"ts\":\"x\",\"event\":\"alert\",\"ack\":"
			    "{\"by\":\"root\",\"note\":\"said \\\"hi\\\", twice\","
			    "\"ts\":\"2026-11-21T21:03:56.000000Z\"}}");
	assert_int_equal(store_row_json(&r, small, sizeof(small)), -1);
	assert_true(store_row_csv(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "42,2026-11-21T21:03:55.123456Z,alert,syn_flood,198.18.0.66,"
			    "root,\"said \"\"hi\"\", twice\",2026-11-21T21:03:56.000000Z,"
			    "\"{\"\"ts\"\":\"\"x\"\",\"\"event\"\":\"\"alert\"\"}\"\n");
	assert_int_equal(store_row_csv(&r, small, sizeof(small)), -1);
	r.acked = 0;
	r.ack_by = r.ack_note = "";
	assert_true(store_row_json(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":42,\"ts\":\"x\",\"event\":\"alert\"}");
}

/* Past 1000 pages of WAL the checkpoint thread copies the log into the
 * database: the database file grows though the loop never checkpoints
 * (our WAL hook replaces SQLite's own checkpoint in the commit). */
static void test_checkpoint_thread(void **state)
{
	struct store *s = open_store(0);
	struct event e = { .type = EVT_BAN, .kind = KIND_SYN_FLOOD };
	struct store_stats st;
	struct stat sb;
	char json[1000];
	int i;

	/* 8 MB of rows: twice the 1000 pages (4 KiB) of a checkpoint. */
	memset(json, 'x', sizeof(json));
	for (i = 0; i < 8000; i++) {
		e.ts_us = (uint64_t)i;
		store_on_event(&e, json, sizeof(json), s);
		if (i % 500 == 499)
			ev_run(loop, EVRUN_NOWAIT);     /* the loop's writer */
	}
	for (i = 0; i < 500; i++) {
		store_get_stats(s, &st);
		assert_int_equal(stat(path, &sb), 0);
		if (st.checkpoints && sb.st_size > (1 << 20))
			break;
		usleep(10000);
	}
	assert_true(st.checkpoints > 0);
	assert_true(sb.st_size > (1 << 20));
	store_free(s);
	assert_int_equal(disk_count("1"), 8000);
}

static void test_open_error(void **state)
{
	struct store *s = NULL;
	char err[256];

	assert_true(store_open(loop, "/nonexistent-dir/h.db", 0, &s, err, sizeof(err)) < 0);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent-dir/h.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_per_iteration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_writes_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_on_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error, setup, teardown),
		cmocka_unit_test(test_row_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
