/* test_events.c - the JSON line contract of DESIGN.md. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "events.h"
#include "jsonl.h"

/* 2026-11-21T21:03:55.123456Z */
#define TS 1795295035123456ull

static struct verdict alert_verdict(void)
{
	struct verdict v = { .kind = KIND_SYN_FLOOD, .ts_us = TS, .count = 100,
			     .threshold = 100, .window_ms = 5000, .proto = 6 };

	assert_int_equal(prefix_parse("198.18.0.66", &v.src), 0);
	assert_int_equal(addr_parse("198.18.0.1", &v.dst), 0);
	return v;
}

static void test_alert_json(void **state)
{
	struct verdict v = alert_verdict();
	struct event e = { .type = EVT_ALERT, .ts_us = TS, .src = v.src, .v = &v };
	char buf[512];

	assert_true(events_json(&e, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
		"{\"ts\":\"2026-11-21T21:03:55.123456Z\",\"event\":\"alert\","
		"\"src\":\"198.18.0.66\",\"kind\":\"syn_flood\",\"count\":100,"
		"\"threshold\":100,\"window_s\":5,\"dst\":\"198.18.0.1\",\"proto\":\"tcp\"}");
}

static void test_ban_unban_json(void **state)
{
	struct event e = { .type = EVT_BAN, .ts_us = TS, .kind = KIND_PORT_SCAN,
			   .duration_s = 120, .offences = 2 };
	char buf[512];

	assert_int_equal(prefix_parse("2001:db8:1:2::/64", &e.src), 0);
	assert_true(events_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"event\":\"ban\",\"src\":\"2001:db8:1:2::/64\","
				    "\"kind\":\"port_scan\",\"duration_s\":120,\"offences\":2}"));
	e.kind = KIND__MAX; /* by hand or adopted */
	assert_true(events_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"kind\":\"manual\""));
	e.type = EVT_UNBAN;
	e.reason = "expired";
	assert_true(events_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"event\":\"unban\""));
	assert_non_null(strstr(buf, "\"reason\":\"expired\"}"));
}

static void test_ddos_has_null_src(void **state)
{
	struct verdict v = alert_verdict();
	struct event e = { .type = EVT_ALERT, .ts_us = TS, .v = &v };
	char buf[512];

	v.kind = KIND_DDOS;
	memset(&v.src, 0, sizeof(v.src));
	e.src = v.src;
	assert_true(events_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"src\":null,\"kind\":\"ddos\""));
	assert_non_null(strstr(buf, "\"window_s\":5"));
}

static void test_too_small_buffer(void **state)
{
	struct verdict v = alert_verdict();
	struct event e = { .type = EVT_ALERT, .ts_us = TS, .src = v.src, .v = &v };
	char buf[40];

	assert_int_equal(events_json(&e, buf, sizeof(buf)), -1);
}

static void test_sink_appends_lines(void **state)
{
	char path[] = "/tmp/dosips-events-XXXXXX", line[512];
	struct verdict v = alert_verdict();
	struct event e = { .type = EVT_ALERT, .ts_us = TS, .src = v.src, .v = &v };
	struct events *bus;
	struct jsonl *j;
	int fd = mkstemp(path), n = 0;
	FILE *f;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(events_new(&bus), 0);
	assert_int_equal(jsonl_open(path, &j), 0);
	assert_int_equal(events_subscribe(bus, jsonl_on_event, j), 0);
	events_publish(bus, &e);
	assert_int_equal(jsonl_reopen(j), 0);
	events_publish(bus, &e);
	jsonl_close(j);
	events_free(bus);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f)) {
		assert_int_equal(line[strlen(line) - 1], '\n');
		assert_non_null(strstr(line, "\"event\":\"alert\""));
		n++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(n, 2);
	assert_int_equal(jsonl_open("/nonexistent-dir/x", &j), -ENOENT);
}

/* What each subscriber of the bus saw, in order. */
struct heard {
	char log[256];
	size_t n;
};

static void hear_a(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct heard *h = ctx;

	h->n += (size_t)snprintf(h->log + h->n, sizeof(h->log) - h->n, "a:%.*s;", (int)len,
				 json);
}

static void hear_b(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct heard *h = ctx;

	h->n += (size_t)snprintf(h->log + h->n, sizeof(h->log) - h->n, "b:%s;",
				 event_type_name(e->type));
}

/* Each event reaches every subscriber once, in the order they came, with
 * the very JSON line events_json gives; an unsubscribed one hears no more. */
static void test_bus_fans_out_in_order(void **state)
{
	struct event e = { .type = EVT_UNBAN, .ts_us = TS, .src = alert_verdict().src,
			   .kind = KIND_SYN_FLOOD, .reason = "manual" };
	struct heard h = { 0 };
	char json[256], want[512];
	struct events *bus;

	assert_int_equal(events_new(&bus), 0);
	events_publish(bus, &e);                       /* nobody listens: fine */
	assert_int_equal(events_subscribe(bus, hear_b, &h), 0);
	assert_int_equal(events_subscribe(bus, hear_a, &h), 0);
	events_publish(bus, &e);
	assert_true(events_json(&e, json, sizeof(json)) > 0);
	snprintf(want, sizeof(want), "b:unban;a:%s;", json);
	assert_string_equal(h.log, want);
	events_unsubscribe(bus, hear_b, &h);
	events_unsubscribe(bus, hear_b, &h);           /* twice: fine */
	h.n = 0;
	events_publish(bus, &e);
	snprintf(want, sizeof(want), "a:%s;", json);
	assert_string_equal(h.log, want);
	events_free(bus);
	events_publish(NULL, &e);
}

/* The bus holds a fixed number of subscribers and says so past it. */
static void test_bus_full(void **state)
{
	struct heard h = { 0 };
	struct events *bus;
	int i, r = 0;

	assert_int_equal(events_new(&bus), 0);
	for (i = 0; i < 64 && (r = events_subscribe(bus, hear_a, &h)) == 0; i++)
		;
	assert_int_equal(r, -ENOSPC);
	assert_true(i >= 8);
	events_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alert_json),
		cmocka_unit_test(test_ban_unban_json),
		cmocka_unit_test(test_ddos_has_null_src),
		cmocka_unit_test(test_too_small_buffer),
		cmocka_unit_test(test_sink_appends_lines),
		cmocka_unit_test(test_bus_fans_out_in_order),
		cmocka_unit_test(test_bus_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
