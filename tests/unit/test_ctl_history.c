/* test_ctl_history.c - the control socket's history and ack commands,
 * answered from a real store: filters, the three formats, the newest N,
 * permissions, a note with blanks, and the audit row every change leaves. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "ctl.h"
#include "events.h"
#include "store.h"

static char dir[64];
static struct ev_loop *loop;
static struct config cfg;
static struct ctl_view view;

static void put(enum event_type t, enum detect_kind k, const char *src, uint64_t ts_us)
{
	struct verdict v = { .kind = k, .ts_us = ts_us, .count = 9, .threshold = 9,
			     .window_ms = 1000, .proto = 17 };
	struct event e = { .type = t, .ts_us = ts_us, .kind = k, .duration_s = 60,
			   .offences = 1 };
	char json[1024];
	int n;

	assert_int_equal(prefix_parse(src, &e.src), 0);
	v.src = e.src;
	if (t == EVT_ALERT)
		e.v = &v;
	assert_true((n = events_json(&e, json, sizeof(json))) > 0);
	store_on_event(&e, json, (size_t)n, view.store);
}

static int setup(void **state)
{
	char path[128], err[256];

	snprintf(dir, sizeof(dir), "/tmp/test_ctlh.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/h.db", dir);
	assert_non_null(loop = ev_loop_new(EVFLAG_AUTO));
	config_defaults(&cfg);
	view = (struct ctl_view){ .cfg = &cfg };
	assert_int_equal(store_open(loop, path, 0, &view.store, err, sizeof(err)), 0);
	/* 2023-11-14T22:13:20Z and on, a second apart. */
	put(EVT_ALERT, KIND_UDP_FLOOD, "198.19.0.2", 1700000000000000ull);   /* 1 */
	put(EVT_BAN, KIND_UDP_FLOOD, "198.19.0.2", 1700000001000000ull);     /* 2 */
	put(EVT_ALERT, KIND_PORT_SCAN, "198.19.0.4", 1700000002000000ull);   /* 3 */
	put(EVT_BAN, KIND_PORT_SCAN, "198.19.0.4", 1700000003000000ull);     /* 4 */
	put(EVT_UNBAN, KIND_UDP_FLOOD, "198.19.0.2", 1700000004000000ull);   /* 5 */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	store_free(view.store);
	ev_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The answer to line from uid (not a group member). */
static char *ask(const char *line, uid_t uid)
{
	size_t len;
	char *a = ctl_answer(&view, line, uid, false, &len);

	assert_non_null(a);
	assert_int_equal(strlen(a), len);
	return a;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_history_text(void **state)
{
	char *a = ask("history", 0);

	/* Header, five rows oldest first, "ok". */
	assert_int_equal(lines(a), 7);
	assert_true(strncmp(a, "ID ", 3) == 0);
	assert_non_null(strstr(a, "\n1       2023-11-14T22:13:20Z alert       udp_flood   198.19.0.2"));
	assert_true(strstr(a, "\n1 ") < strstr(a, "\n5 "));
	assert_non_null(strstr(a, "\nok\n"));
	free(a);
	a = ask("history kind=port_scan event=ban", 0);
	assert_int_equal(lines(a), 3);
	assert_non_null(strstr(a, "\n4       2023-11-14T22:13:23Z ban"));
	free(a);
	a = ask("history src=198.19.0.0/24 since=2023-11-14T22:13:21Z until=2023-11-14T22:13:24Z", 0);
	assert_int_equal(lines(a), 5);
	free(a);
	a = ask("history src=198.19.0.2 since=2023-11-14T22:13:25Z", 0);
	assert_int_equal(lines(a), 2);   /* header, no row, ok */
	free(a);
}

/* limit keeps the newest rows, still oldest first. */
static void test_history_limit_json(void **state)
{
	char *a = ask("history limit=2 format=json", 0);

	assert_string_equal(a,
		"{\"id\":4,\"ts\":\"2023-11-14T22:13:23.000000Z\",\"event\":\"ban\","
		"\"src\":\"198.19.0.4\",\"kind\":\"port_scan\",\"duration_s\":60,\"offences\":1}\n"
		"{\"id\":5,\"ts\":\"2023-11-14T22:13:24.000000Z\",\"event\":\"unban\","
		"\"src\":\"198.19.0.2\",\"kind\":\"udp_flood\"}\nok\n");
	free(a);
}

static void test_history_csv(void **state)
{
	char *a = ask("history format=csv event=alert", 0);

	assert_true(strncmp(a, STORE_CSV_HEADER, strlen(STORE_CSV_HEADER)) == 0);
	assert_int_equal(lines(a), 4);
	assert_non_null(strstr(a, "\n3,2023-11-14T22:13:22.000000Z,alert,port_scan,198.19.0.4,,,,"
				  "\"{\"\"ts\"\":"));
	free(a);
}

/* More rows than one chunk: all of them, each once, in order. */
static void test_history_long(void **state)
{
	char *a, want[64];

	for (int i = 0; i < 1000; i++)
		put(EVT_BAN, KIND_SYN_FLOOD, "198.18.7.7", 1700000100000000ull + (uint64_t)i);
	a = ask("history kind=syn_flood format=csv", 0);
	assert_int_equal(lines(a), 1002);
	snprintf(want, sizeof(want), "\n1005,");
	assert_non_null(strstr(a, want));
	assert_true(strstr(a, "\n6,") < strstr(a, "\n7,"));
	assert_true(strstr(a, "\n261,") < strstr(a, "\n262,"));   /* across a chunk */
	free(a);
}

static void test_history_errors(void **state)
{
	char *a = ask("history since=yesterday", 0);

	assert_non_null(strstr(a, "error: since yesterday: expected"));
	free(a);
	a = ask("history src=nowhere", 0);
	assert_non_null(strstr(a, "error: src=nowhere: expected"));
	free(a);
	a = ask("history", 1000);      /* neither root nor in the group */
	assert_non_null(strstr(a, "error: permission denied"));
	free(a);
	store_free(view.store);
	view.store = NULL;
	a = ask("history", 0);
	assert_string_equal(a, "error: history is off (set history in dosips.conf)\n");
	free(a);
	a = ask("ack 1 x", 0);
	assert_string_equal(a, "error: history is off (set history in dosips.conf)\n");
	free(a);
}

static void test_ack_and_audit(void **state)
{
	char *a = ask("ack 3   known   scanner, ticket 42  ", 0);

	assert_string_equal(a, "acknowledged 3\nok\n");
	free(a);
	a = ask("history format=json event=alert kind=port_scan", 0);
	assert_non_null(strstr(a, ",\"ack\":{\"by\":\"root\",\"note\":\"known   scanner, "
				  "ticket 42\",\"ts\":"));
	free(a);
	a = ask("ack 2 a ban", 0);
	assert_string_equal(a, "error: no alert with id 2 in the history\n");
	free(a);
	a = ask("ack 3 again", 1000);
	assert_non_null(strstr(a, "error: permission denied: ack needs root"));
	free(a);
	a = ask("ack x note", 0);
	assert_non_null(strstr(a, "error: x: expected the id"));
	free(a);
	/* One audit row: the ack that worked. */
	a = ask("history event=control format=json", 0);
	assert_int_equal(lines(a), 2);
	assert_non_null(strstr(a, "\"event\":\"control\",\"who\":\"root\",\"role\":\"admin\","
				  "\"action\":\"ack\",\"detail\":\"3 known   scanner, ticket 42\"}"));
	free(a);
	a = ask("history event=control", 0);
	assert_non_null(strstr(a, " control     ack         -                        by root "
				  "(admin): 3 known   scanner, ticket 42\n"));
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_history_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_limit_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_and_audit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
