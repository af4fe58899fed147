/* daemon_env.h - for unit tests: a daemon's modules built around the null
 * firewall and a replayed capture, as main.c wires them (included by
 * test_ctl.c and test_http.c; static, so each test has its own). */
#ifndef DOSIPS_TEST_DAEMON_ENV_H
#define DOSIPS_TEST_DAEMON_ENV_H

#include "capture.h"
#include "config.h"
#include "events.h"
#include "fw_null.h"
#include "hooks.h"
#include "mitigate.h"
#include "whitelist.h"

struct daemon_env {
	struct ev_loop *loop;
	struct config cfg;
	struct capture *cap;
	struct detect *det;
	struct mitigate *mit;
	struct whitelist *wl;
	struct events *bus;
	struct fw *fw;
	struct hooks *hooks;
};

static void daemon_env_packets(const struct pkt *p, size_t n, void *ctx)
{
	detect_batch(((struct daemon_env *)ctx)->det, p, n);
}

static void daemon_env_eof(void *ctx)
{
	ev_break(((struct daemon_env *)ctx)->loop, EVBREAK_ALL);
}

/* Builds the modules with e->cfg (set by the caller) and an empty
 * whitelist and bus, which the caller may fill before daemon_env_replay. */
static void daemon_env_open(struct daemon_env *e)
{
	struct hooks_cfg hc = { .timeout_ms = 1000, .max_running = 1 };

	assert_non_null(e->loop = ev_default_loop(0));
	assert_int_equal(events_new(&e->bus), 0);
	assert_int_equal(fw_open_null(&e->fw), 0);
	assert_int_equal(whitelist_new(&e->wl), 0);
	assert_int_equal(hooks_new(e->loop, &hc, &e->hooks), 0);
	assert_int_equal(mitigate_new(e->loop, &e->cfg.mitigate, e->fw, e->wl, e->bus, &e->mit), 0);
	assert_int_equal(detect_new(&e->cfg.detect, mitigate_verdict, e->mit, &e->det), 0);
}

/* Replays the whole of file (relative to $TOP) and commits its bans. */
static void daemon_env_replay(struct daemon_env *e, const char *file)
{
	struct capture_cfg cc = { .snaplen = 256 };
	const char *top = getenv("TOP");
	char path[512], err[256];

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", file);
	cc.file = path;
	assert_int_equal(capture_open(e->loop, &cc, daemon_env_packets, daemon_env_eof, e,
				      &e->cap, err, sizeof(err)), 0);
	ev_run(e->loop, 0);
	mitigate_flush(e->mit);
}

/* The view dosipsctl and the page get of e. */
static struct ctl_view daemon_env_view(struct daemon_env *e)
{
	return (struct ctl_view){
		.cap = e->cap, .det = e->det, .mit = e->mit, .fw = e->fw, .hooks = e->hooks,
		.cfg = &e->cfg, .started = ev_time(), .source = "test", .dry_run = true,
	};
}

static void daemon_env_close(struct daemon_env *e)
{
	capture_close(e->cap);
	detect_free(e->det);
	mitigate_free(e->mit);
	hooks_free(e->hooks);
	whitelist_free(e->wl);
	fw_close(e->fw);
	events_free(e->bus);
}

#endif
