/* test_hooks.c - hooks get the event, never block the caller, and are
 * killed (with their children) when they overrun. Real processes, no
 * root needed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "events.h"
#include "hooks.h"

/* 2026-11-21T21:03:55.123456Z */
#define TS 1795295035123456ull

static char dir[64];

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Writes an executable shell script NAME into the test directory. */
static void script(const char *name, const char *body)
{
	char path[256];
	FILE *f;

	path_in(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_hooks.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Runs the loop until no hook runs or max_s passes; returns the time. */
static double run_until_idle(struct hooks *h, double max_s)
{
	struct ev_loop *loop = ev_default_loop(0);
	double start = ev_time();
	struct hooks_stats st;
	ev_timer tick;

	ev_timer_init(&tick, on_tick, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	do {
		ev_run(loop, EVRUN_ONCE);
		hooks_get_stats(h, &st);
	} while (st.running && ev_time() - start < max_s);
	ev_timer_stop(loop, &tick);
	return ev_time() - start;
}

static struct event ban_event(void)
{
	struct event e = { .type = EVT_BAN, .ts_us = TS, .kind = KIND_SYN_FLOOD,
			   .duration_s = 120, .offences = 2 };

	assert_int_equal(prefix_parse("198.18.0.66", &e.src), 0);
	return e;
}

static char *slurp(const char *name)
{
	static char buf[4096];
	char path[256];
	size_t n;
	FILE *f;

	path_in(path, sizeof(path), name);
	if (!(f = fopen(path, "r")))
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static struct hooks *new_hooks(const char *on_ban, const char *on_unban, uint32_t timeout_ms,
			       uint32_t max)
{
	struct hooks_cfg cfg = { .on_ban = on_ban, .on_unban = on_unban, .timeout_ms = timeout_ms,
				 .max_running = max };
	struct hooks *h;

	assert_int_equal(hooks_new(ev_default_loop(0), &cfg, &h), 0);
	return h;
}

/* Variables and the JSON line reach the program; arguments are split at
 * blanks; stale DOSIPS_* values of the daemon's environment do not leak. */
static void test_environment_and_stdin(void **state)
{
	char cmd[256], *out;
	struct event e = ban_event();
	struct hooks *h;

	/* The variables of ours and one of the operator's; others the
	 * environment may hold (DOSIPS_CORPUS in a test run) are not looked at. */
	script("hook", "{ env | grep -E '^DOSIPS_(DURATION|EVENT|KIND|OFFENCES|REASON|SRC|TS|"
	       "WEBHOOK_URL)=' | sort; echo \"arg=$1\"; cat; } > \"$2\"");
	snprintf(cmd, sizeof(cmd), "%s/hook  first   %s/out", dir, dir);
	setenv("DOSIPS_SRC", "stale", 1);
	setenv("DOSIPS_WEBHOOK_URL", "http://example.invalid/", 1);
	h = new_hooks(cmd, "", 5000, 4);
	hooks_on_event(&e, "{\"event\":\"ban\"}", 15, h);
	run_until_idle(h, 5);
	assert_non_null(out = slurp("out"));
	assert_string_equal(out,
		"DOSIPS_DURATION=120\n"
		"DOSIPS_EVENT=ban\n"
		"DOSIPS_KIND=syn_flood\n"
		"DOSIPS_OFFENCES=2\n"
		"DOSIPS_SRC=198.18.0.66\n"
		"DOSIPS_TS=2026-11-21T21:03:55.123456Z\n"
		"DOSIPS_WEBHOOK_URL=http://example.invalid/\n"
		"arg=first\n"
		"{\"event\":\"ban\"}\n");
	unsetenv("DOSIPS_SRC");
	unsetenv("DOSIPS_WEBHOOK_URL");
	hooks_free(h);
}

/* The value of field name in a /proc status text, or "". */
static const char *status_field(const char *text, const char *name)
{
	static char val[64];
	const char *l = strstr(text, name);

	val[0] = '\0';
	if (l && sscanf(l + strlen(name), " %63s", val) != 1)
		val[0] = '\0';
	return val;
}

/* A hook holds no capability and cannot gain one by exec, even when
 * dosips runs as uid 0 with capabilities (as the tests do as root). */
static void test_no_capabilities(void **state)
{
	char cmd[256], *out;
	struct event e = ban_event();
	struct hooks *h;

	script("caps", "cat /proc/self/status > \"$1\"");
	snprintf(cmd, sizeof(cmd), "%s/caps %s/status", dir, dir);
	h = new_hooks(cmd, "", 5000, 4);
	hooks_on_event(&e, "{}", 2, h);
	run_until_idle(h, 5);
	assert_non_null(out = slurp("status"));
	assert_string_equal(status_field(out, "CapInh:"), "0000000000000000");
	assert_string_equal(status_field(out, "CapPrm:"), "0000000000000000");
	assert_string_equal(status_field(out, "CapEff:"), "0000000000000000");
	assert_string_equal(status_field(out, "CapAmb:"), "0000000000000000");
	assert_string_equal(status_field(out, "NoNewPrivs:"), "1");
	hooks_free(h);
}

/* A hook that daemonises (setsid, its parent gone at once) still counts
 * as running, and its daemon is killed at the timeout. */
static void test_daemonised_hook_bounded(void **state)
{
	char cmd[256], stat[64], buf[256], *out;
	struct event e = ban_event();
	struct hooks_stats st;
	struct hooks *h;
	double took;
	int pid;
	FILE *f;

	script("daemon",
	       "setsid sh -c 'echo $$ > \"$1\"; exec sleep 30' daemon \"$1\" </dev/null & exit 0");
	snprintf(cmd, sizeof(cmd), "%s/daemon %s/pid", dir, dir);
	h = new_hooks(cmd, "", 400, 4);
	hooks_on_event(&e, "{}", 2, h);
	took = run_until_idle(h, 5);
	hooks_get_stats(h, &st);
	assert_true(took >= 0.35);             /* ran on past its parent's exit */
	assert_int_equal(st.killed, 1);
	assert_int_equal(st.running, 0);
	assert_non_null(out = slurp("pid"));
	assert_true((pid = atoi(out)) > 0);
	snprintf(stat, sizeof(stat), "/proc/%d/stat", pid);
	buf[0] = '\0';
	if ((f = fopen(stat, "r"))) {          /* gone, or a zombie at most */
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	assert_true(!*buf || strstr(buf, ") Z "));
	hooks_free(h);
}

/* Subscribed to the bus, hooks get bans and unbans (not alerts). */
static void test_events_feed_hooks(void **state)
{
	char ban[256], unban[256], *out;
	struct event e = ban_event();
	struct events *ev;
	struct hooks *h;

	script("ban", "cat >> \"$1\"");
	script("unban", "echo \"$DOSIPS_EVENT $DOSIPS_SRC $DOSIPS_REASON ${DOSIPS_DURATION-none}\""
	       " >> \"$1\"");
	snprintf(ban, sizeof(ban), "%s/ban %s/out", dir, dir);
	snprintf(unban, sizeof(unban), "%s/unban %s/out2", dir, dir);
	h = new_hooks(ban, unban, 5000, 4);
	assert_int_equal(events_new(&ev), 0);
	assert_int_equal(events_subscribe(ev, hooks_on_event, h), 0);
	events_publish(ev, &e);
	run_until_idle(h, 5);
	e.type = EVT_UNBAN;
	e.reason = "manual";
	events_publish(ev, &e);
	run_until_idle(h, 5);
	assert_non_null(out = slurp("out"));
	assert_non_null(strstr(out, "\"event\":\"ban\",\"src\":\"198.18.0.66\""));
	assert_non_null(strchr(out, '\n'));
	assert_non_null(out = slurp("out2"));
	assert_string_equal(out, "unban 198.18.0.66 manual none\n");
	events_free(ev);
	hooks_free(h);
}

/* A hook that overruns is killed with its children; the caller never
 * waits for it. */
static void test_timeout_kills_group(void **state)
{
	char cmd[256], *out;
	struct event e = ban_event();
	struct hooks_stats st;
	struct hooks *h;
	double t0, took;
	int child;

	script("slow", "sleep 30 & echo $! > \"$1\"; wait");
	snprintf(cmd, sizeof(cmd), "%s/slow %s/pid", dir, dir);
	h = new_hooks(cmd, "", 300, 4);
	t0 = ev_time();
	hooks_on_event(&e, "{}", 2, h);
	/* Started, not waited for: the hook's child would hold us 30 s. Only
	 * lower bounds are tight; upper ones leave room for a loaded machine. */
	assert_true(ev_time() - t0 < 10);
	took = run_until_idle(h, 25);
	assert_true(took >= 0.25 && took < 20);
	hooks_get_stats(h, &st);
	assert_int_equal(st.killed, 1);
	assert_int_equal(st.running, 0);
	assert_non_null(out = slurp("pid"));
	child = atoi(out);
	assert_true(child > 0);
	/* The background sleep went with its group (dead, perhaps unreaped). */
	for (int i = 0; i < 100 && kill(child, 0) == 0; i++) {
		char stat[64], buf[256] = "";
		FILE *f;

		snprintf(stat, sizeof(stat), "/proc/%d/stat", child);
		if ((f = fopen(stat, "r"))) {
			fgets(buf, sizeof(buf), f);
			fclose(f);
		}
		if (strstr(buf, ") Z "))
			break;
		usleep(10000);
		assert_true(i < 99);
	}
	hooks_free(h);
}

/* Beyond max_running hooks are dropped, not queued; failures count. */
static void test_bound_and_failures(void **state)
{
	char cmd[256];
	struct event e = ban_event();
	struct hooks_stats st;
	struct hooks *h;

	script("nap", "sleep 0.3");
	script("bad", "exit 3");
	snprintf(cmd, sizeof(cmd), "%s/nap", dir);
	h = new_hooks(cmd, "/nonexistent/hook", 5000, 2);
	for (int i = 0; i < 3; i++)
		hooks_on_event(&e, "{}", 2, h);
	hooks_get_stats(h, &st);
	assert_int_equal(st.started, 2);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.running, 2);
	run_until_idle(h, 5);
	e.type = EVT_UNBAN;
	hooks_on_event(&e, "{}", 2, h);             /* cannot start: counted */
	hooks_get_stats(h, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.running, 0);
	e.type = EVT_ALERT;
	hooks_on_event(&e, "{}", 2, h);             /* not an event for hooks */
	snprintf(cmd, sizeof(cmd), "%s/bad", dir);
	struct hooks_cfg cfg = { .on_ban = cmd, .on_unban = "", .timeout_ms = 5000, .max_running = 2 };
	assert_int_equal(hooks_set_cfg(h, &cfg), 0);
	e.type = EVT_BAN;
	hooks_on_event(&e, "{}", 2, h);
	run_until_idle(h, 5);
	hooks_get_stats(h, &st);
	assert_int_equal(st.started, 3);
	assert_int_equal(st.failed, 2);        /* exit status 3 */
	assert_int_equal(st.running, 0);
	hooks_free(h);
}

/* hooks_free lets a running hook finish, but no later than its deadline. */
static void test_free_waits_until_deadline(void **state)
{
	char quick[256], slow[256];
	struct event e = ban_event();
	struct hooks *h;
	double t0;

	script("quick", "sleep 0.2; echo done > \"$1\"");
	script("forever", "sleep 30");
	snprintf(quick, sizeof(quick), "%s/quick %s/out", dir, dir);
	snprintf(slow, sizeof(slow), "%s/forever", dir);
	h = new_hooks(quick, slow, 600, 4);
	hooks_on_event(&e, "{}", 2, h);
	e.type = EVT_UNBAN;
	hooks_on_event(&e, "{}", 2, h);
	t0 = ev_time();
	hooks_free(h);
	assert_true(ev_time() - t0 < 20);        /* the forever hook: killed, not 30 s */
	assert_non_null(slurp("out"));
	assert_string_equal(slurp("out"), "done\n");
}

static void test_config_errors(void **state)
{
	char many[200] = "/bin/true";
	struct hooks_cfg cfg = { .on_ban = many, .on_unban = "", .timeout_ms = 1000, .max_running = 1 };
	struct hooks *h;
	struct ev_loop *other = ev_loop_new(EVFLAG_AUTO);

	assert_int_equal(hooks_new(other, &cfg, &h), -EINVAL);   /* not the default loop */
	ev_loop_destroy(other);
	for (int i = 0; i < 40; i++)
		strcat(many, " x");
	assert_int_equal(hooks_new(ev_default_loop(0), &cfg, &h), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_environment_and_stdin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemonised_hook_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_feed_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_waits_until_deadline, setup, teardown),
		cmocka_unit_test(test_config_errors),
	};

	ev_default_loop(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
