/* test_ctl.c - the control protocol through ctl_answer, without root: a
 * daemon's modules built around the null firewall and a replayed capture,
 * asked what dosipsctl would ask, with the rights of root, of a member of
 * control_group, and of anybody else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture.h"
#include "config.h"
#include "ctl.h"
#include "events.h"
#include "fw_null.h"
#include "hooks.h"
#include "log.h"
#include "mitigate.h"
#include "stats.h"
#include "whitelist.h"

struct env {
	struct ev_loop *loop;
	struct config cfg;
	struct capture *cap;
	struct detect *det;
	struct mitigate *mit;
	struct whitelist *wl;
	struct events *bus;
	struct fw *fw;
	struct hooks *hooks;
	struct ctl_view view;
	int reloads;
	int reload_fails;
};

static void on_packets(const struct pkt *p, size_t n, void *ctx)
{
	struct env *t = ctx;

	detect_batch(t->det, p, n);
}

static void on_eof(void *ctx)
{
	ev_break(((struct env *)ctx)->loop, EVBREAK_ALL);
}

static int fake_reload(void *ctx, char *err, size_t errlen)
{
	struct env *t = ctx;

	if (t->reload_fails) {
		snprintf(err, errlen, "dosips.conf:3: expected a whole number");
		return -EINVAL;
	}
	t->reloads++;
	return 0;
}

static int setup(void **state)
{
	static struct env e;
	struct env *t = &e;
	struct capture_cfg cc = { .file = "tests/captures/hping3-syn-flood.pcap", .snaplen = 256 };
	struct hooks_cfg hc = { .timeout_ms = 1000, .max_running = 1 };
	struct ip_prefix w;
	char err[256];
	const char *top = getenv("TOP");
	char path[512];

	memset(t, 0, sizeof(*t));
	log_set_level(LOG_LVL_ERR);
	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", cc.file);
	cc.file = path;
	config_defaults(&t->cfg);
	snprintf(t->cfg.ctl_group, sizeof(t->cfg.ctl_group), "dosips");
	assert_non_null(t->loop = ev_default_loop(0));
	assert_int_equal(events_new(&t->bus), 0);
	assert_int_equal(fw_open_null(&t->fw), 0);
	assert_int_equal(whitelist_new(&t->wl), 0);
	assert_int_equal(prefix_parse("198.18.255.0/24", &w), 0);
	assert_int_equal(whitelist_add(t->wl, &w), 0);
	assert_int_equal(hooks_new(t->loop, &hc, &t->hooks), 0);
	assert_int_equal(mitigate_new(t->loop, &t->cfg.mitigate, t->fw, t->wl, t->bus, &t->mit), 0);
	assert_int_equal(detect_new(&t->cfg.detect, mitigate_verdict, t->mit, &t->det), 0);
	assert_int_equal(capture_open(t->loop, &cc, on_packets, on_eof, t, &t->cap, err,
				      sizeof(err)), 0);
	ev_run(t->loop, 0);          /* the whole capture: one SYN flood banned */
	mitigate_flush(t->mit);
	t->view = (struct ctl_view){
		.cap = t->cap, .det = t->det, .mit = t->mit, .fw = t->fw, .hooks = t->hooks,
		.cfg = &t->cfg, .started = ev_time(), .source = "test", .dry_run = true,
		.reload = fake_reload, .ctx = t,
	};
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct env *t = *state;

	capture_close(t->cap);
	detect_free(t->det);
	mitigate_free(t->mit);
	hooks_free(t->hooks);
	whitelist_free(t->wl);
	fw_close(t->fw);
	events_free(t->bus);
	return 0;
}

/* The answer to line from uid (member of control_group or not). */
static char *ask(struct env *t, const char *line, uid_t uid, bool member)
{
	static char out[1 << 16];
	size_t len;
	char *r = ctl_answer(&t->view, line, uid, member, &len);

	assert_non_null(r);
	assert_int_equal(strlen(r), len);
	snprintf(out, sizeof(out), "%s", r);
	free(r);
	return out;
}

static const char *last_line(const char *s)
{
	size_t n = strlen(s);
	const char *p;

	assert_true(n > 0 && s[n - 1] == '\n');
	for (p = s + n - 1; p > s && p[-1] != '\n'; p--)
		;
	return p;
}

static void test_reads_need_root_or_group(void **state)
{
	struct env *t = *state;

	assert_string_equal(last_line(ask(t, "status", 0, false)), "ok\n");
	assert_string_equal(last_line(ask(t, "status", 1000, true)), "ok\n");
	assert_string_equal(last_line(ask(t, "bans", 1000, false)),
			    "error: permission denied: bans needs root or group dosips\n");
}

static void test_changes_need_root(void **state)
{
	struct env *t = *state;

	assert_string_equal(last_line(ask(t, "ban 198.18.0.9", 1000, true)),
			    "error: permission denied: ban needs root\n");
	assert_string_equal(last_line(ask(t, "reload", 1000, true)),
			    "error: permission denied: reload needs root\n");
	assert_int_equal(t->reloads, 0);
	assert_int_equal(mitigate_count(t->mit), 1);
}

/* The flood in the capture is banned; a ban by hand joins it, shows in the
 * list as manual, and an unban lifts it; the whitelist refuses. */
static void test_ban_bans_unban(void **state)
{
	struct env *t = *state;
	char *out;

	out = ask(t, "bans", 0, false);
	assert_non_null(strstr(out, "syn_flood"));
	assert_string_equal(ask(t, "ban 198.18.0.9 120", 0, false),
			    "banned 198.18.0.9 for 2m0s\nok\n");
	assert_int_equal(mitigate_count(t->mit), 2);
	out = ask(t, "bans", 1000, true);
	assert_non_null(strstr(out, "198.18.0.9"));
	assert_non_null(strstr(out, "manual"));
	assert_string_equal(ask(t, "unban 198.18.0.9", 0, false), "unbanned 198.18.0.9\nok\n");
	assert_string_equal(ask(t, "unban 198.18.0.9", 0, false),
			    "error: 198.18.0.9 is not banned\n");
	assert_string_equal(last_line(ask(t, "ban 198.18.255.7", 0, false)),
			    "error: 198.18.255.7 is whitelisted: not banned\n");
	assert_int_equal(mitigate_count(t->mit), 1);
}

static void test_bad_requests(void **state)
{
	struct env *t = *state;

	assert_string_equal(ask(t, "", 0, false), "error: empty request (try help)\n");
	assert_string_equal(ask(t, "frobnicate", 0, false),
			    "error: unknown command frobnicate (try help)\n");
	assert_string_equal(ask(t, "ban", 0, false),
			    "error: usage: ban ADDR[/LEN] [SECONDS]\n");
	assert_string_equal(last_line(ask(t, "ban not-an-address", 0, false)),
			    last_line(ask(t, "ban 999.1.1.1", 0, false)));
	assert_non_null(strstr(ask(t, "ban a b c d e f g h i j k l m n o p q r", 0, false),
			       "error: "));
	assert_non_null(strstr(ask(t, "help", 1000, true), "unban ADDR[/LEN] (root)"));
}

static void test_reload_reports_why(void **state)
{
	struct env *t = *state;

	assert_string_equal(ask(t, "reload", 0, false), "reloaded\nok\n");
	assert_int_equal(t->reloads, 1);
	t->reload_fails = 1;
	assert_string_equal(ask(t, "reload", 0, false),
			    "error: dosips.conf:3: expected a whole number\n");
	t->reload_fails = 0;
}

struct keys {
	char text[1 << 15];
	size_t n;
};

static void key_line(enum stats_group g, const char *key, uint64_t value, void *ctx)
{
	struct keys *k = ctx;

	k->n += (size_t)snprintf(k->text + k->n, sizeof(k->text) - k->n, "%s=%llu\n", key,
				 (unsigned long long)value);
}

/* stats is exactly stats_collect's counters (the report's too), with the
 * capture's own counts: 969 frames, the SYN flood alerted once. */
static void test_stats_are_the_collected_counters(void **state)
{
	struct env *t = *state;
	static struct keys k;
	char *out = ask(t, "stats", 1000, true);

	k.n = 0;
	stats_collect(&t->view, key_line, &k);
	assert_non_null(strstr(out, k.text));
	assert_true(strncmp(out, "uptime_s=", 9) == 0);
	assert_non_null(strstr(out, "\nframes=969\n"));
	assert_non_null(strstr(out, "\nalerts.syn_flood=1\n"));
	assert_non_null(strstr(out, "\nbans_active=1\n"));
	assert_string_equal(last_line(out), "ok\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_need_root_or_group),
		cmocka_unit_test(test_changes_need_root),
		cmocka_unit_test(test_ban_bans_unban),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_reload_reports_why),
		cmocka_unit_test(test_stats_are_the_collected_counters),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
