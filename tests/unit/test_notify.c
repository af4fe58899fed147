/* test_notify.c - what notifiers send, checked against each service's
 * documented message shape by parsing it back with json-c; digests that
 * count every folded event; the rate limit and folding end to end through
 * a real spawned sendmail stand-in; and the [notify] section's checks. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "events.h"
#include "notify.h"
#include "notify_msg.h"

/* 2026-11-21T21:03:55.123456Z */
#define TS 1795295035123456ull

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct event ban(const char *src, enum detect_kind kind)
{
	struct event e = { .type = EVT_BAN, .ts_us = TS, .kind = kind, .duration_s = 60,
			   .offences = 2 };

	assert_int_equal(prefix_parse(src, &e.src), 0);
	return e;
}

/* The event's note rendered as type t, parsed back. */
static json_object *payload(enum notify_type t, const struct event *e)
{
	char json[1024];
	struct note n;
	size_t len = 0;
	char *body;
	json_object *o;
	int jl = events_json(e, json, sizeof(json));

	assert_true(jl > 0);
	assert_int_equal(note_event(&n, e, json, (size_t)jl, "edge1"), 0);
	assert_non_null(body = note_payload(t, &n, &len));
	assert_int_equal(strlen(body), len);
	assert_non_null(o = json_tokener_parse(body));
	free(body);
	note_clear(&n);
	return o;
}

static json_object *get(json_object *o, const char *key, json_type type)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_int_equal(json_object_get_type(v), type);
	return v;
}

static const char *str(json_object *o, const char *key, size_t max)
{
	const char *s = json_object_get_string(get(o, key, json_type_string));

	assert_true(strlen(s) > 0 && strlen(s) <= max);
	return s;
}

/* Slack incoming webhook: top-level text (<= 40000, the fallback) and
 * Block Kit blocks: header plain_text <= 150, section mrkdwn <= 3000 with
 * <= 10 fields of <= 2000, context elements. */
static void test_slack_shape(void **state)
{
	struct event e = ban("198.18.0.66", KIND_SYN_FLOOD);
	json_object *o = payload(NOTIFY_SLACK, &e), *blocks, *b, *t;
	const char *types[] = { "header", "section", "context" };

	assert_non_null(strstr(str(o, "text", 40000), "banned 198.18.0.66 (syn_flood)"));
	blocks = get(o, "blocks", json_type_array);
	assert_int_equal(json_object_array_length(blocks), 3);
	for (size_t i = 0; i < 3; i++) {
		b = json_object_array_get_idx(blocks, i);
		assert_string_equal(str(b, "type", 20), types[i]);
	}
	t = get(json_object_array_get_idx(blocks, 0), "text", json_type_object);
	assert_string_equal(str(t, "type", 20), "plain_text");
	assert_string_equal(str(t, "text", 150), "banned 198.18.0.66 (syn_flood)");
	b = json_object_array_get_idx(blocks, 1);
	t = get(b, "text", json_type_object);
	assert_string_equal(str(t, "type", 20), "mrkdwn");
	assert_string_equal(str(t, "text", 3000),
			    "198.18.0.66 is banned for 60 s (syn_flood, offence 2).");
	t = get(b, "fields", json_type_array);
	assert_true(json_object_array_length(t) >= 1 && json_object_array_length(t) <= 10);
	for (size_t i = 0; i < json_object_array_length(t); i++) {
		json_object *f = json_object_array_get_idx(t, i);

		assert_string_equal(str(f, "type", 20), "mrkdwn");
		str(f, "text", 2000);
	}
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(t, 0), "text",
						       json_type_string)), "*source*\n198.18.0.66");
	get(json_object_array_get_idx(blocks, 2), "elements", json_type_array);
	json_object_put(o);
}

/* Discord execute webhook: content <= 2000, <= 10 embeds; an embed's
 * title <= 256, description <= 4096, color an integer, ISO 8601
 * timestamp, <= 25 fields (name <= 256, value <= 1024). Mentions off. */
static void test_discord_shape(void **state)
{
	struct event e = ban("2001:db8:0:2::/64", KIND_UDP_FLOOD);
	json_object *o = payload(NOTIFY_DISCORD, &e), *em, *fields, *am;
	struct tm tm = { 0 };
	int color;

	assert_non_null(strstr(str(o, "content", 2000), "2001:db8:0:2::/64"));
	em = get(o, "embeds", json_type_array);
	assert_int_equal(json_object_array_length(em), 1);
	em = json_object_array_get_idx(em, 0);
	assert_string_equal(str(em, "title", 256), "banned 2001:db8:0:2::/64 (udp_flood)");
	str(em, "description", 4096);
	color = json_object_get_int(get(em, "color", json_type_int));
	assert_true(color >= 0 && color <= 0xffffff);
	assert_non_null(strptime(str(em, "timestamp", 40), "%Y-%m-%dT%H:%M:%S", &tm));
	fields = get(em, "fields", json_type_array);
	assert_true(json_object_array_length(fields) <= 25);
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		json_object *f = json_object_array_get_idx(fields, i);

		str(f, "name", 256);
		str(f, "value", 1024);
	}
	am = get(get(o, "allowed_mentions", json_type_object), "parse", json_type_array);
	assert_int_equal(json_object_array_length(am), 0);
	json_object_put(o);
}

/* Mattermost incoming webhook: text (Markdown); Teams workflow webhook:
 * a message with one Adaptive Card attachment. */
static void test_mattermost_teams_shape(void **state)
{
	struct event e = ban("198.18.0.66", KIND_PORT_SCAN);
	json_object *o = payload(NOTIFY_MATTERMOST, &e), *att, *card, *body;

	assert_non_null(strstr(str(o, "text", 16383), "**dosips: banned 198.18.0.66 (port_scan)**"));
	json_object_put(o);
	o = payload(NOTIFY_TEAMS, &e);
	assert_string_equal(str(o, "type", 20), "message");
	att = get(o, "attachments", json_type_array);
	assert_int_equal(json_object_array_length(att), 1);
	att = json_object_array_get_idx(att, 0);
	assert_string_equal(str(att, "contentType", 64), "application/vnd.microsoft.card.adaptive");
	card = get(att, "content", json_type_object);
	assert_string_equal(str(card, "type", 20), "AdaptiveCard");
	assert_string_equal(str(card, "$schema", 100),
			    "http://adaptivecards.io/schemas/adaptive-card.json");
	str(card, "version", 8);
	body = get(card, "body", json_type_array);
	assert_string_equal(str(json_object_array_get_idx(body, 0), "type", 20), "TextBlock");
	assert_non_null(strstr(str(json_object_array_get_idx(body, 0), "text", 500), "port_scan"));
	assert_string_equal(str(json_object_array_get_idx(body, 2), "type", 20), "FactSet");
	get(json_object_array_get_idx(body, 2), "facts", json_type_array);
	json_object_put(o);
}

/* The generic webhook posts the bus's own line, byte for byte. */
static void test_webhook_is_event_json(void **state)
{
	struct event e = ban("198.18.0.66", KIND_SYN_FLOOD);
	char json[1024], *body;
	struct note n;
	size_t len;
	int jl = events_json(&e, json, sizeof(json));

	assert_int_equal(note_event(&n, &e, json, (size_t)jl, "edge1"), 0);
	assert_non_null(body = note_payload(NOTIFY_WEBHOOK, &n, &len));
	assert_string_equal(body, json);
	free(body);
	note_clear(&n);
}

/* A value with quotes, backslashes and control bytes stays one string. */
static void test_json_escaping(void **state)
{
	struct event e = { .type = EVT_UNBAN, .ts_us = TS, .reason = "a\"b\\c\n<&>" };
	json_object *o;
	char json[1024];
	struct note n;
	size_t len;
	char *body;

	assert_int_equal(prefix_parse("198.18.0.9", &e.src), 0);
	assert_true(events_json(&e, json, sizeof(json)) > 0);
	assert_int_equal(note_event(&n, &e, "{}", 2, "h\"ost"), 0);
	for (int t = 0; t < NOTIFY_WEBHOOK; t++) {
		assert_non_null(body = note_payload(t, &n, &len));
		assert_non_null(o = json_tokener_parse(body));
		json_object_put(o);
		free(body);
	}
	note_clear(&n);
}

/* RFC 5322: the headers sendmail -t reads, a parseable Date, a Message-ID
 * unique per message, short lines. */
static void test_mail(void **state)
{
	struct event e = ban("198.18.0.66", KIND_SYN_FLOOD);
	char json[1024], *m1, *m2, *body, id1[128], id2[128];
	struct tm tm = { 0 };
	struct note n;
	size_t len;
	int jl = events_json(&e, json, sizeof(json));

	assert_int_equal(note_event(&n, &e, json, (size_t)jl, "edge1"), 0);
	struct mail_hdr h = { "dosips@edge1.example", "ops@example.org", "edge1", TS + 2000000, 1 };

	assert_non_null(m1 = note_mail(&n, &h, &len));
	h.seq = 2;
	assert_non_null(m2 = note_mail(&n, &h, &len));
	assert_non_null(body = strstr(m1, "\n\n"));
	*body = '\0';
	assert_non_null(strstr(m1, "From: dosips <dosips@edge1.example>\n"));
	assert_non_null(strstr(m1, "To: ops@example.org\n"));
	assert_non_null(strstr(m1, "Subject: [dosips edge1] banned 198.18.0.66 (syn_flood)\n"));
	assert_non_null(strptime(strstr(m1, "Date: ") + 6, "%a, %d %b %Y %H:%M:%S +0000", &tm));
	assert_int_equal(timegm(&tm), (time_t)(TS / 1000000) + 2);   /* made, not seen */
	assert_int_equal(sscanf(strstr(m1, "Message-ID: "), "Message-ID: <%127[^>]>", id1), 1);
	assert_int_equal(sscanf(strstr(m2, "Message-ID: "), "Message-ID: <%127[^>]>", id2), 1);
	assert_non_null(strchr(id1, '@'));
	assert_string_not_equal(id1, id2);
	assert_non_null(strstr(body + 1, json));
	for (char *l = m1, *nl; (nl = strchr(l, '\n')); l = nl + 1)
		assert_true(nl - l <= 998);
	free(m1);
	free(m2);
	note_clear(&n);
}

/* 37 bans folded: counts per kind, busiest sources first, and the JSON's
 * counts add up to the events folded. */
static void test_digest_counts(void **state)
{
	struct digest d = { 0 };
	struct note n;
	json_object *o, *kinds, *top;
	char src[32];
	int64_t sum = 0;

	for (int i = 0; i < 30; i++) {
		snprintf(src, sizeof(src), "198.18.1.%d", i % 10);  /* 10 sources, 3 each */
		struct event e = ban(src, KIND_SYN_FLOOD);
		digest_add(&d, &e, TS);
	}
	for (int i = 0; i < 7; i++) {
		struct event e = ban("198.18.2.7", KIND_UDP_FLOOD);
		digest_add(&d, &e, TS + 1000);
	}
	assert_int_equal(note_digest(&n, &d, TS + 59500000, "edge1"), 0);
	assert_string_equal(n.title, "37 bans in the last 60 s");
	assert_string_equal(n.text, "37 bans in the last 60 s: 30 syn_flood, 7 udp_flood; "
			    "top sources 198.18.2.7 (7), 198.18.1.0 (3), 198.18.1.1 (3), "
			    "198.18.1.2 (3), 198.18.1.3 (3) and 6 more; see dosipsctl history");
	assert_non_null(o = json_tokener_parse(n.json));
	assert_string_equal(str(o, "event", 10), "digest");
	assert_int_equal(json_object_get_int(get(o, "count", json_type_int)), 37);
	kinds = get(o, "kinds", json_type_object);
	json_object_object_foreach(kinds, k, v) {
		(void)k;
		sum += json_object_get_int64(v);
	}
	assert_int_equal(sum, 37);
	top = get(o, "top_sources", json_type_array);
	assert_int_equal(json_object_array_length(top), 5);
	json_object_put(o);
	note_clear(&n);
}

/* Mixed events and more sources than are counted apart: still every
 * event counted. */
static void test_digest_mixed(void **state)
{
	struct digest d = { 0 };
	struct event a = { .type = EVT_ALERT, .kind = KIND_DDOS };
	struct note n;
	char src[32];

	for (int i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "198.18.%d.%d", i / 200, i % 200);
		struct event e = ban(src, KIND_SYN_FLOOD);
		digest_add(&d, &e, TS);
	}
	digest_add(&d, &a, TS);
	assert_int_equal(d.count, 101);
	assert_int_equal(d.nsrc + d.untracked, 100);
	assert_int_equal(note_digest(&n, &d, TS + 10000000, "edge1"), 0);
	assert_string_equal(n.title, "101 events (1 alert, 100 bans) in the last 10 s");
	assert_non_null(strstr(n.text, ": 100 syn_flood, 1 ddos; sources 198.18.0.0, "));
	assert_non_null(strstr(n.text, " and 95 more; "));
	assert_int_equal(n.sev, SEV_CRITICAL);
	note_clear(&n);
}

/* ---- end to end through the loop, with a sendmail stand-in --------------- */

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void run_for(double s)
{
	struct ev_loop *loop = ev_default_loop(0);
	double end = ev_time() + s;
	ev_timer tick;

	ev_timer_init(&tick, on_tick, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	while (ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
}

/* A configuration with one mail notifier whose sendmail appends each
 * message (its argv first) to DIR/mails. */
static void mail_config(struct config *cfg, const char *extra)
{
	char path[128], conf[128], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sendmail", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n{ echo \"ARGS $*\"; cat; echo '.END'; } >> %s/mails\n", dir);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/dosips.conf", dir);
	assert_non_null(f = fopen(conf, "w"));
	fprintf(f, "hook_timeout = 5s\n[notify ops]\ntype = mail\nto = ops@example.org\n"
		"sendmail = %s\n%s", path, extra);
	fclose(f);
	config_defaults(cfg);
	assert_int_equal(config_load(cfg, conf, err, sizeof(err)), 0);
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
}

/* Counts messages in DIR/mails and adds up the events they carry. */
static int mails(unsigned *events, unsigned *digests)
{
	char path[128], line[1200];
	unsigned n = 0, c;
	FILE *f;

	*events = *digests = 0;
	snprintf(path, sizeof(path), "%s/mails", dir);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "ARGS -t -i", 10))
			n++;
		if (!strncmp(line, "Subject: [dosips ", 17) && strstr(line, "] banned "))
			(*events)++;
		if (!strncmp(line, "Subject: [dosips ", 17) &&
		    sscanf(strchr(line, ']') + 2, "%u bans in the last", &c) == 1)
			*events += c, (*digests)++;
	}
	fclose(f);
	return (int)n;
}

/* 200 bans at once with rate 5: five messages, the rest in digests whose
 * counts add up; nothing waits for sendmail. */
static void test_rate_and_digest(void **state)
{
	static struct config cfg;
	struct events *bus;
	struct notify *n;
	struct notify_stats st;
	char err[256], src[32];
	unsigned events, digests;
	double t0;

	mail_config(&cfg, "rate = 5\ndigest = 1s\n");
	assert_int_equal(notify_new(ev_default_loop(0), NULL, &cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(events_new(&bus), 0);
	assert_int_equal(events_subscribe(bus, notify_on_event, n), 0);
	t0 = ev_time();
	for (int i = 0; i < 200; i++) {
		snprintf(src, sizeof(src), "198.18.%d.%d", i / 100, i % 100);
		struct event e = ban(src, i % 4 ? KIND_SYN_FLOOD : KIND_UDP_FLOOD);
		events_publish(bus, &e);
	}
	assert_true(ev_time() - t0 < 0.5);     /* published, not waited for */
	run_for(2.5);
	assert_int_equal(mails(&events, &digests), 6);
	assert_int_equal(digests, 1);
	assert_int_equal(events, 200);
	assert_int_equal(notify_get_stats(n, "ops", &st), 0);
	assert_int_equal(st.messages, 6);
	assert_int_equal(st.events, 200);
	assert_int_equal(st.folded, 195);
	assert_int_equal(st.queued, 0);
	assert_int_equal(notify_get_stats(n, "nope", &st), -ENOENT);
	events_free(bus);
	notify_free(n);
}

/* Filters: only what events/kinds/severity let through is sent. */
static void test_filters(void **state)
{
	static struct config cfg;
	struct event un = ban("198.18.0.5", KIND_SYN_FLOOD), b2 = un, b3 = un;
	struct notify_stats st;
	struct notify *n;
	char err[256];

	mail_config(&cfg, "events = ban, unban\nkinds = udp_flood\nseverity = warning\n");
	assert_int_equal(notify_new(ev_default_loop(0), NULL, &cfg, &n, err, sizeof(err)), 0);
	un.type = EVT_UNBAN;
	un.kind = KIND_UDP_FLOOD;
	b3.kind = KIND_UDP_FLOOD;
	notify_on_event(&un, "{}", 2, n);   /* unban: severity info */
	notify_on_event(&b2, "{}", 2, n);   /* syn_flood: not a kind wanted */
	notify_on_event(&b3, "{}", 2, n);   /* the one */
	run_for(0.5);
	assert_int_equal(notify_get_stats(n, NULL, &st), 0);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.folded, 0);
	notify_free(n);
}

/* sendmail's temporary failure (75) is retried after a backoff, any other
 * failure is not, and the log-and-count path accounts for every event. */
static void test_mail_retry(void **state)
{
	static struct config cfg;
	struct event e = ban("198.18.0.5", KIND_SYN_FLOOD);
	struct notify_stats st;
	struct notify *n;
	char path[128], err[256];
	unsigned events, digests;
	FILE *f;

	mail_config(&cfg, "retries = 2\n");
	/* First run: exit 75; then deliver. */
	snprintf(path, sizeof(path), "%s/sendmail", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\nif [ ! -e %s/tried ]; then touch %s/tried; exit 75; fi\n"
		"{ echo \"ARGS $*\"; cat; } >> %s/mails\n", dir, dir, dir);
	fclose(f);
	assert_int_equal(notify_new(ev_default_loop(0), NULL, &cfg, &n, err, sizeof(err)), 0);
	notify_on_event(&e, "{}", 2, n);
	run_for(0.5);
	assert_int_equal(mails(&events, &digests), 0);      /* backing off */
	run_for(1.2);
	assert_int_equal(mails(&events, &digests), 1);
	assert_int_equal(notify_get_stats(n, NULL, &st), 0);
	assert_int_equal(st.retries, 1);
	assert_int_equal(st.messages, 1);
	/* exit 1: final at once */
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\nexit 1\n");
	fclose(f);
	notify_on_event(&e, "{}", 2, n);
	run_for(0.5);
	assert_int_equal(notify_get_stats(n, NULL, &st), 0);
	assert_int_equal(st.retries, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.failed_events, 1);
	assert_int_equal(st.queued, 0);
	notify_free(n);
}

/* A reload keeps a notifier that stays (its digest goes on gathering)
 * and makes one that goes send what it gathered, then fall silent. */
static void test_reload(void **state)
{
	static struct config cfg, next;
	struct event e = ban("198.18.0.5", KIND_SYN_FLOOD);
	struct notify_stats st;
	struct notify *n;
	char err[256];

	mail_config(&cfg, "rate = 1\ndigest = 1h\n");
	assert_int_equal(notify_new(ev_default_loop(0), NULL, &cfg, &n, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		notify_on_event(&e, "{}", 2, n);
	run_for(0.3);
	assert_int_equal(notify_get_stats(n, "ops", &st), 0);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.pending, 2);
	mail_config(&next, "rate = 1\ndigest = 1h\nseverity = notice\n");
	assert_int_equal(notify_set_cfg(n, &next, err, sizeof(err)), 0);
	notify_on_event(&e, "{}", 2, n);
	assert_int_equal(notify_get_stats(n, "ops", &st), 0);
	assert_int_equal(st.pending, 3);       /* kept, and still folding */
	config_defaults(&next);                /* no [notify] left */
	assert_int_equal(notify_set_cfg(n, &next, err, sizeof(err)), 0);
	notify_on_event(&e, "{}", 2, n);       /* not taken any more */
	run_for(0.3);
	assert_int_equal(notify_get_stats(n, "ops", &st), 0);
	assert_int_equal(st.messages, 2);      /* the digest went out */
	assert_int_equal(st.events, 4);
	assert_int_equal(st.pending, 0);
	notify_free(n);
}

/* A ban the kernel refused is critical, said so, and sent by default. */
static void test_ban_failed(void **state)
{
	static struct config cfg;
	struct event e = ban("198.18.0.5", KIND_UDP_FLOOD);
	struct notify_stats st;
	struct notify *n;
	struct note note;
	char err[256];

	e.type = EVT_BAN_FAILED;
	e.reason = "set full";
	assert_int_equal(notify_event_sev(&e), SEV_CRITICAL);
	assert_int_equal(note_event(&note, &e, "{}", 2, "edge1"), 0);
	assert_string_equal(note.title, "could not ban 198.18.0.5 (udp_flood)");
	assert_string_equal(note.text, "198.18.0.5 is not banned: the kernel refused (set full).");
	note_clear(&note);
	mail_config(&cfg, "");
	assert_int_equal(notify_new(ev_default_loop(0), NULL, &cfg, &n, err, sizeof(err)), 0);
	notify_on_event(&e, "{}", 2, n);
	run_for(0.3);
	assert_int_equal(notify_get_stats(n, NULL, &st), 0);
	assert_int_equal(st.messages, 1);
	notify_free(n);
}

/* ---- configuration --------------------------------------------------------- */

static const char *check(const char *text)
{
	static char err[512];
	static struct config cfg;
	char conf[128];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	assert_non_null(f = fopen(conf, "w"));
	fputs(text, f);
	fclose(f);
	config_defaults(&cfg);
	*err = '\0';
	if (config_load(&cfg, conf, err, sizeof(err)) == 0 &&
	    config_check(&cfg, err, sizeof(err)) == 0)
		return "ok";
	return strstr(err, ".conf:") + 6;
}

static void test_config_errors(void **state)
{
	char url[128], text[512];
	FILE *f;

	snprintf(url, sizeof(url), "%s/hook.url", dir);
	assert_non_null(f = fopen(url, "w"));
	fputs("# the Slack webhook\nhttps://hooks.slack.example/services/T0/B0/x\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "[notify chat]\ntype = slack\nurl_file = %s\n", url);
	assert_string_equal(check(text), "ok");
	snprintf(text, sizeof(text), "[notify chat]\ntype = slack\nurl_file = %s\nrate = 0\n", url);
	assert_string_equal(check(text), "4: rate: expected 1 to 60 messages a minute");
	assert_string_equal(check("[notify chat]\ntype = irc\n"),
			    "2: type: expected slack, discord, mattermost, teams, webhook or mail");
	assert_string_equal(check("[notify chat]\ntype = slack\n"),
			    "2: [notify chat] needs url_file = (a file holding the webhook URL)");
	snprintf(text, sizeof(text), "[notify chat]\ntype = slack\nurl_file = %s/none\n", dir);
	assert_non_null(strstr(check(text), "/none: No such file or directory"));
	snprintf(text, sizeof(text), "[notify chat]\nurl_file = %s/c.conf\n", dir);
	assert_non_null(strstr(check(text), ": does not hold an http:// or https:// URL"));
	assert_string_equal(check("[notify m]\ntype = mail\nto = ops@x\nevents = ban, bans\n"),
			    "4: unknown event or kind");
	assert_string_equal(check("[notify m]\ntype = mail\nto = ops\n"),
			    "3: to: expected mail addresses (name@domain, comma-separated)");
	assert_string_equal(check("[notify m]\ntype = mail\nto = a@b\ncolour = red\n"),
			    "4: unknown key in a [notify] section");
	assert_string_equal(check("[notify m]\ntype = mail\nto = a@b\nsendmail = /nonexistent/sm\n"),
			    "4: [notify m] sendmail cannot be run (install exim4, postfix or "
			    "msmtp-mta, or set sendmail =)");
	assert_string_equal(check("[notify m]\ntype = mail\nto = a@b\nsendmail = /bin/true\n"
				  "events = ban, ddos, ban_cap\nkinds = syn_flood manual\n"
				  "severity = critical\ndigest = 5m\n"), "ok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_shape),
		cmocka_unit_test(test_discord_shape),
		cmocka_unit_test(test_mattermost_teams_shape),
		cmocka_unit_test(test_webhook_is_event_json),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_digest_counts),
		cmocka_unit_test(test_digest_mixed),
		cmocka_unit_test_setup_teardown(test_rate_and_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ban_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
