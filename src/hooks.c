/* hooks.c - on_ban/on_unban programs: spawned, fed, timed and reaped in
 * the loop (child.c: each under a keeper without capabilities), so a slow
 * hook holds up neither capture nor the next ban. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"
#include "hooks.h"
#include "log.h"

#define HOOK_WORDS 32
#define HOOK_VARS 7

extern char **environ;

/* A configured command, split once into its words. */
struct hook_cmd {
	char *buf;
	char *argv[HOOK_WORDS + 1];
};

/* One running hook. */
struct hook_proc {
	struct child *sp;
	struct hooks *h;
	struct hook_proc *next;
	const char *name;     /* "on_ban" or "on_unban" */
};

struct hooks {
	struct ev_loop *loop;
	struct hook_cmd ban, unban;
	uint32_t timeout_ms, max_running;
	bool as_user;               /* hooks run as uid:gid */
	uid_t uid;
	gid_t gid;
	struct hook_proc *procs;
	struct hooks_stats st;
	struct ratelimit *rl;       /* of the "not run" warnings */
};

/* Splits s at blanks into cmd; -E2BIG past HOOK_WORDS words. */
static int cmd_parse(struct hook_cmd *cmd, const char *s)
{
	char *save, *w;
	int n = 0;

	memset(cmd, 0, sizeof(*cmd));
	if (!s || !*s)
		return 0;
	if (!(cmd->buf = strdup(s)))
		return -ENOMEM;
	for (w = strtok_r(cmd->buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == HOOK_WORDS) {
			free(cmd->buf);
			cmd->buf = NULL;
			return -E2BIG;
		}
		cmd->argv[n++] = w;
	}
	return 0;
}

int hooks_set_cfg(struct hooks *h, const struct hooks_cfg *cfg)
{
	struct hook_cmd ban, unban;
	int r;

	if ((r = cmd_parse(&ban, cfg->on_ban)) < 0)
		return r;
	if ((r = cmd_parse(&unban, cfg->on_unban)) < 0) {
		free(ban.buf);
		return r;
	}
	if (!h->rl && (r = ratelimit_new(&cfg->limit, &h->rl)) < 0) {
		free(ban.buf);
		free(unban.buf);
		return r;
	}
	ratelimit_set_cfg(h->rl, &cfg->limit);
	free(h->ban.buf);
	free(h->unban.buf);
	h->ban = ban;
	h->unban = unban;
	h->timeout_ms = cfg->timeout_ms;
	h->max_running = cfg->max_running;
	h->as_user = cfg->as_user;
	h->uid = cfg->uid;
	h->gid = cfg->gid;
	return 0;
}

int hooks_new(struct ev_loop *loop, const struct hooks_cfg *cfg, struct hooks **out)
{
	struct hooks *h;
	int r;

	/* libev reaps children only in its default loop. */
	if (!ev_is_default_loop(loop))
		return -EINVAL;
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->loop = loop;
	if ((r = hooks_set_cfg(h, cfg)) < 0) {
		ratelimit_free(h->rl);
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

static void proc_unlink(struct hook_proc *p)
{
	struct hook_proc **pp = &p->h->procs;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	p->h->st.running--;
}

static void on_done(struct child *sp, int st, bool killed, void *ctx)
{
	struct hook_proc *p = ctx;
	pid_t pid = child_pid(sp);

	if (killed) {
		p->h->st.killed++;
		log_warn("hook %s (pid %d) still running after %gs: killed", p->name, (int)pid,
			 p->h->timeout_ms / 1000.0);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		p->h->st.failed++;
		log_warn("hook %s (pid %d) exited with status %d", p->name, (int)pid,
			 WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		p->h->st.failed++;
		log_warn("hook %s (pid %d) died of signal %d", p->name, (int)pid, WTERMSIG(st));
	}
	proc_unlink(p);
	free(p);
}

/* The DOSIPS_* variables of e, in vars (HOOK_VARS slots of 128). */
static int event_vars(const struct event *e, char vars[][128])
{
	char src[ADDR_STRLEN], ts[40];
	int n = 0;

	events_fmt_ts(e->ts_us, ts, sizeof(ts));
	snprintf(vars[n++], 128, "DOSIPS_EVENT=%s", event_type_name(e->type));
	snprintf(vars[n++], 128, "DOSIPS_SRC=%s", e->src.len ? prefix_fmt(&e->src, src) : "");
	snprintf(vars[n++], 128, "DOSIPS_KIND=%s",
		 detect_kind_name(e->kind));
	snprintf(vars[n++], 128, "DOSIPS_TS=%s", ts);
	if (e->type == EVT_BAN) {
		snprintf(vars[n++], 128, "DOSIPS_DURATION=%u", e->duration_s);
		snprintf(vars[n++], 128, "DOSIPS_OFFENCES=%u", e->offences);
	}
	if (e->reason)
		snprintf(vars[n++], 128, "DOSIPS_REASON=%s", e->reason);
	return n;
}

/* The daemon's environment (so a unit's Environment= reaches hooks) without
 * stale DOSIPS_* values of ours, then the event's. Caller frees. */
static char **build_env(char vars[][128], int nvars)
{
	static const char *const ours[] = { "DOSIPS_EVENT=", "DOSIPS_SRC=", "DOSIPS_KIND=",
		"DOSIPS_TS=", "DOSIPS_DURATION=", "DOSIPS_OFFENCES=", "DOSIPS_REASON=" };
	size_t n = 0, total = 0;
	char **env;

	while (environ && environ[total])
		total++;
	if (!(env = calloc(total + (size_t)nvars + 1, sizeof(*env))))
		return NULL;
	for (size_t i = 0; i < total; i++) {
		size_t j = 0;

		while (j < sizeof(ours) / sizeof(ours[0]) &&
		       strncmp(environ[i], ours[j], strlen(ours[j])) != 0)
			j++;
		if (j == sizeof(ours) / sizeof(ours[0]))
			env[n++] = environ[i];
	}
	for (int i = 0; i < nvars; i++)
		env[n++] = vars[i];
	return env;
}

static int hook_start(struct hooks *h, const struct hook_cmd *cmd, const char *name,
		      const struct event *e, const char *json, size_t len)
{
	struct iovec in[2] = { { (void *)json, len }, { "\n", 1 } };
	char vars[HOOK_VARS][128];
	struct hook_proc *p;
	char **env;
	int r = -ENOMEM;

	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	if (!(env = build_env(vars, event_vars(e, vars))))
		goto fail;
	r = child_start(h->loop, &(struct child_req){
		.argv = cmd->argv, .env = env, .in = in, .nin = 2, .timeout_ms = h->timeout_ms,
		.as_user = h->as_user, .uid = h->uid, .gid = h->gid,
		.done = on_done, .ctx = p }, &p->sp);
	free(env);
	if (r < 0)
		goto fail;
	p->h = h;
	p->name = name;
	p->next = h->procs;
	h->procs = p;
	h->st.running++;
	h->st.started++;
	return 0;
fail:
	free(p);
	return r;
}

static void dropped_summary(const struct ratelimit_report *r, void *ctx)
{
	log_warn("hooks: %" PRIu64 " more not run (hook_max), for %u sources, in %gs",
		 r->suppressed, r->sources, (r->end_us - r->start_us) / 1e6);
}

void hooks_tick(struct hooks *h, uint64_t now_us)
{
	ratelimit_tick(h->rl, now_us, dropped_summary, NULL);
}

void hooks_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct hooks *h = ctx;
	const struct hook_cmd *cmd = e->type == EVT_BAN ? &h->ban :
				     e->type == EVT_UNBAN ? &h->unban : NULL;
	const char *name = e->type == EVT_BAN ? "on_ban" : "on_unban";
	char src[ADDR_STRLEN];
	int r;

	if (!cmd || !cmd->argv[0])
		return;
	if (h->st.running >= h->max_running) {
		h->st.dropped++;
		if (ratelimit_allow(h->rl, 0, &e->src, e->ts_us, dropped_summary, NULL))
			log_warn("hook %s not run for %s: %u hooks still running (hook_max)",
				 name, prefix_fmt(&e->src, src), h->st.running);
		return;
	}
	if ((r = hook_start(h, cmd, name, e, json, len)) < 0) {
		h->st.failed++;
		log_warn("cannot run hook %s (%s): %s", name, cmd->argv[0], strerror(-r));
	}
}

void hooks_get_stats(const struct hooks *h, struct hooks_stats *st)
{
	*st = h->st;
}

void hooks_free(struct hooks *h)
{
	struct hook_proc *p, *next;

	if (!h)
		return;
	if (h->procs)
		log_info("waiting for %u hooks to finish", h->st.running);
	for (p = h->procs; p; p = next) {
		next = p->next;
		child_finish(p->sp);
		free(p);
	}
	free(h->ban.buf);
	free(h->unban.buf);
	ratelimit_free(h->rl);
	free(h);
}
