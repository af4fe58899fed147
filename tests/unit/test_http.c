/* test_http.c - the HTTP side in-process, without root: a daemon's
 * modules around the null firewall and a replayed SYN flood, the server
 * on loopback, and the project's own HTTP client (webclient) in the same
 * loop asking what Prometheus and the page ask. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "config.h"
#include "ctl.h"
#include "events.h"
#include "fw_null.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mitigate.h"
#include "webclient.h"
#include "whitelist.h"
#include "daemon_env.h"

#define ADMIN "admin-token-0123456789"
#define VIEWER "viewer-token-0123456789"

struct env {
	struct daemon_env d;
	struct metrics *metrics;
	struct ctl_view view;
	struct http_view hv;
	struct http *http;
	struct webclient *wc;
	char tokens[64];
	int port;
};

/* Control events heard on the bus, the last one's JSON. */
static struct { int n; char json[1024]; } control;

static void on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	if (e->type != EVT_CONTROL)
		return;
	control.n++;
	snprintf(control.json, sizeof(control.json), "%.*s", (int)len, json);
}

/* The last answer. */
static struct { int status; char body[1 << 16]; bool done; } ans;

static int no_tune(void *ctx, const struct config_setting *set, int n, bool save, char *err,
		   size_t errlen)
{
	return snprintf(err, errlen, "x.conf:1: no"), -EINVAL;
}

static int setup(void **state)
{
	static struct env e;
	struct env *t = &e;
	char err[256];
	FILE *f;

	memset(t, 0, sizeof(*t));
	log_set_level(LOG_LVL_ERR);
	config_defaults(&t->d.cfg);
	daemon_env_open(&t->d);
	assert_int_equal(metrics_new(&t->metrics), 0);
	events_subscribe(t->d.bus, metrics_on_event, t->metrics);
	daemon_env_replay(&t->d, "tests/captures/hping3-syn-flood.pcap"); /* one SYN flood banned */
	t->view = daemon_env_view(&t->d);
	t->hv = (struct http_view){ .ctl = &t->view, .metrics = t->metrics, .bus = t->d.bus,
				    .tune = no_tune };
	snprintf(t->tokens, sizeof(t->tokens), "/tmp/test_http.%d", (int)getpid());
	assert_non_null(f = fopen(t->tokens, "w"));
	fprintf(f, "# comment\n" ADMIN " admin alice\n" VIEWER " viewer\n");
	fclose(f);
	snprintf(t->d.cfg.http_tokens, sizeof(t->d.cfg.http_tokens), "%s", t->tokens);
	t->port = 30000 + getpid() % 20000;
	snprintf(t->d.cfg.http_listen, sizeof(t->d.cfg.http_listen), "127.0.0.1:%d", t->port);
	assert_int_equal(http_open(t->d.loop, &t->d.cfg, &t->hv, &t->http, err, sizeof(err)), 0);
	events_subscribe(t->d.bus, http_on_event, t->http);
	events_subscribe(t->d.bus, on_event, NULL);
	assert_int_equal(webclient_new(t->d.loop, &t->wc, err, sizeof(err)), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct env *t = *state;

	webclient_free(t->wc);
	http_close(t->http);
	daemon_env_close(&t->d);
	metrics_free(t->metrics);
	unlink(t->tokens);
	return 0;
}

static void on_done(const struct web_response *r, void *ctx)
{
	ans.status = r->status;
	snprintf(ans.body, sizeof(ans.body), "%.*s", (int)r->len, r->body ? r->body : "");
	ans.done = true;
}

/* One request through the loop; the status, the body in ans.body. */
static int ask(struct env *t, const char *method, const char *path, const char *token,
	       const char *body)
{
	char url[128], auth[128];
	const char *hdr[] = { auth, "Content-Type: application/json", NULL };
	struct web_request rq = {
		.method = method, .url = url, .headers = token ? hdr : NULL, .body = body,
		.body_len = body ? strlen(body) : 0, .timeout_ms = 5000,
	};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", t->port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	ans.done = false;
	assert_true(webclient_request(t->wc, &rq, on_done, NULL) > 0);
	while (!ans.done)
		ev_run(t->d.loop, EVRUN_ONCE);
	return ans.status;
}

/* Every family has its HELP and TYPE, labelled series read 0 before they
 * count, and the bus-fed counts are the replay's: one syn_flood ban. */
static void test_metrics(void **state)
{
	struct env *t = *state;

	assert_int_equal(ask(t, "GET", "/metrics", VIEWER, NULL), 200);
	assert_non_null(strstr(ans.body, "# TYPE dosips_bans_total counter\n"));
	assert_non_null(strstr(ans.body, "\ndosips_bans_total{kind=\"syn_flood\"} 1\n"));
	assert_non_null(strstr(ans.body, "\ndosips_bans_total{kind=\"port_scan\"} 0\n"));
	assert_non_null(strstr(ans.body, "\ndosips_bans_active{kind=\"syn_flood\"} 1\n"));
	assert_non_null(strstr(ans.body, "\ndosips_alerts_total{kind=\"syn_flood\"} 1\n"));
	assert_non_null(strstr(ans.body, "\ndosips_unbans_total{kind=\"manual\",reason=\"expired\"} 0\n"));
	assert_non_null(strstr(ans.body, "\ndosips_ban_latency_seconds_bucket{le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(ans.body, "\ndosips_ban_latency_seconds_count 1\n"));
	assert_non_null(strstr(ans.body, "\ndosips_kernel_ban_dropped_packets_total 0\n"));
	assert_non_null(strstr(ans.body, "dosips_build_info{version=\"" DOSIPS_VERSION "\"} 1\n"));
	for (const char *p = ans.body; (p = strstr(p, "# TYPE ")); p++) {
		char name[96];

		assert_int_equal(sscanf(p, "# TYPE %95s", name), 1);
		assert_true(strncmp(name, "dosips_", 7) == 0);
	}
}

/* On loopback anyone reads; an unknown token is refused; changes are for
 * admins only (off loopback, tests/lab/e2e_page.sh). */
static void test_roles(void **state)
{
	struct env *t = *state;
	unsigned bans = mitigate_count(t->d.mit);

	assert_int_equal(ask(t, "GET", "/api/state", NULL, NULL), 200);
	assert_non_null(strstr(ans.body, "\"role\":\"viewer\""));
	assert_int_equal(ask(t, "POST", "/api/ban", NULL, "{\"src\":\"198.18.0.99\"}"), 403);
	assert_int_equal(ask(t, "GET", "/metrics", "not-a-token-at-all", NULL), 401);
	assert_int_equal(ask(t, "GET", "/", NULL, NULL), 200);  /* the page's own files */
	assert_non_null(strstr(ans.body, "<title>dosips</title>"));
	assert_int_equal(ask(t, "GET", "/api/state", VIEWER, NULL), 200);
	assert_non_null(strstr(ans.body, "\"role\":\"viewer\""));
	assert_non_null(strstr(ans.body, "\"src\":\"198.18.0.3\",\"kind\":\"syn_flood\""));
	assert_int_equal(ask(t, "POST", "/api/ban", VIEWER, "{\"src\":\"198.18.0.99\"}"), 403);
	assert_int_equal(mitigate_count(t->d.mit), bans);
	assert_int_equal(control.n, 2);   /* each refusal audited, with the role */
	assert_non_null(strstr(control.json, "\"role\":\"viewer\""));
	assert_non_null(strstr(control.json, "\"action\":\"ban\""));
	assert_int_equal(ask(t, "POST", "/api/ban", ADMIN,
			     "{\"src\":\"198.18.0.99\",\"duration\":\"10m\"}"), 200);
	assert_int_equal(mitigate_count(t->d.mit), bans + 1);
	assert_non_null(strstr(control.json, "\"who\":\"alice\",\"role\":\"admin\""));
	assert_int_equal(ask(t, "POST", "/api/unban", ADMIN, "{\"src\":\"198.18.0.99\"}"), 200);
	assert_int_equal(mitigate_count(t->d.mit), bans);
	assert_int_equal(ask(t, "POST", "/api/unban", ADMIN, "{\"src\":\"198.18.0.99\"}"), 400);
	assert_int_equal(ask(t, "POST", "/api/ban", ADMIN, "{\"src\":\"1.2.3.4; reboot\"}"), 400);
	assert_int_equal(ask(t, "POST", "/api/ban", ADMIN, "{\"src\":"), 400);
	assert_int_equal(ask(t, "POST", "/api/tune", ADMIN,
			     "{\"settings\":{\"syn_flood.threshold\":\"0\"}}"), 400);
	assert_non_null(strstr(ans.body, "x.conf:1: no"));
	assert_int_equal(ask(t, "POST", "/api/tune", ADMIN,
			     "{\"settings\":{\"interface\":\"eth9\"}}"), 400);
	assert_int_equal(ask(t, "GET", "/api/history", VIEWER, NULL), 503);
	assert_int_equal(ask(t, "DELETE", "/api/state", VIEWER, NULL), 405);
	assert_int_equal(ask(t, "GET", "/nothing", VIEWER, NULL), 404);
}

/* A body over 8 KiB is refused, and the server goes on. */
static void test_bounds(void **state)
{
	struct env *t = *state;
	static char big[20000];

	memset(big, 'a', sizeof(big) - 1);
	assert_int_equal(ask(t, "POST", "/api/ban", ADMIN, big), 413);
	assert_int_equal(ask(t, "GET", "/metrics", ADMIN, NULL), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
