/* hooks.c - on_ban/on_unban programs: spawned, fed, timed and reaped in
 * the loop, so a slow hook holds up neither capture nor the next ban. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	ev_child child;
	ev_timer timer;
	struct hooks *h;
	struct hook_proc *next;
	const char *name;     /* "on_ban" or "on_unban" */
	double deadline;      /* ev_now() at which it is killed */
	pid_t pid;
	int killed;
};

struct hooks {
	struct ev_loop *loop;
	struct hook_cmd ban, unban;
	uint32_t timeout_ms, max_running;
	struct hook_proc *procs;
	struct hooks_stats st;
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
	free(h->ban.buf);
	free(h->unban.buf);
	h->ban = ban;
	h->unban = unban;
	h->timeout_ms = cfg->timeout_ms;
	h->max_running = cfg->max_running;
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

static void on_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct hook_proc *p = w->data;
	int st = w->rstatus;

	ev_child_stop(loop, &p->child);
	ev_timer_stop(loop, &p->timer);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		p->h->st.failed++;
		log_warn("hook %s (pid %d) exited with status %d", p->name, (int)p->pid,
			 WEXITSTATUS(st));
	} else if (WIFSIGNALED(st) && !p->killed) {
		p->h->st.failed++;
		log_warn("hook %s (pid %d) died of signal %d", p->name, (int)p->pid,
			 WTERMSIG(st));
	}
	proc_unlink(p);
	free(p);
}

/* The whole process group goes, so a hook's own children cannot linger. */
static void on_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook_proc *p = w->data;

	p->killed = 1;
	p->h->st.killed++;
	kill(-p->pid, SIGKILL);
	log_warn("hook %s (pid %d) still running after %gs: killed", p->name, (int)p->pid,
		 p->h->timeout_ms / 1000.0);
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

/* A pipe already holding the line: it fits the pipe buffer, so the write
 * neither blocks nor meets a reader that is gone. Returns the read end. */
static int stdin_pipe(const char *json, size_t len)
{
	struct iovec iov[2] = { { (void *)json, len }, { "\n", 1 } };
	int p[2];

	if (len + 1 > PIPE_BUF)
		return -EMSGSIZE;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0 || writev(p[1], iov, 2) != (ssize_t)len + 1) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r ? r : -EIO;
	}
	close(p[1]);
	return p[0];
}

/* Attributes for a clean child: own process group (the timeout kills it
 * whole), default signal dispositions, nothing blocked. */
static void spawn_attr(posix_spawnattr_t *at)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_init(at);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				     POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(at, 0);
	posix_spawnattr_setsigmask(at, &none);
	posix_spawnattr_setsigdefault(at, &all);
}

/* Spawns cmd with the line on stdin, its stdout joined to our stderr (so
 * it cannot interleave with JSON lines on stdout) and no other descriptor. */
static int spawn(const struct hook_cmd *cmd, char **env, const char *json, size_t len,
		 pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int in, r;

	if ((in = stdin_pipe(json, len)) < 0)
		return in;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	spawn_attr(&at);
	r = -posix_spawn(pid, cmd->argv[0], &fa, &at, cmd->argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	return r;
}

static int hook_start(struct hooks *h, const struct hook_cmd *cmd, const char *name,
		      const struct event *e, const char *json, size_t len)
{
	char vars[HOOK_VARS][128];
	struct hook_proc *p;
	char **env;
	int r = -ENOMEM;

	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	if (!(env = build_env(vars, event_vars(e, vars))))
		goto fail;
	r = spawn(cmd, env, json, len, &p->pid);
	free(env);
	if (r < 0)
		goto fail;
	p->h = h;
	p->name = name;
	p->deadline = ev_now(h->loop) + h->timeout_ms / 1000.0;
	ev_child_init(&p->child, on_exit_cb, p->pid, 0);
	ev_timer_init(&p->timer, on_timeout_cb, h->timeout_ms / 1000.0, 0);
	p->child.data = p->timer.data = p;
	ev_child_start(h->loop, &p->child);
	ev_timer_start(h->loop, &p->timer);
	p->next = h->procs;
	h->procs = p;
	h->st.running++;
	h->st.started++;
	return 0;
fail:
	free(p);
	return r;
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
		log_warn("hook %s not run for %s: %u hooks still running (hook_max)", name,
			 prefix_fmt(&e->src, src), h->st.running);
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

/* Blocks until p exits or its deadline passes, then kills its group. */
static void proc_wait(struct hook_proc *p)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int st;

	while (waitpid(p->pid, &st, WNOHANG) == 0) {
		if (ev_time() >= p->deadline) {
			kill(-p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			break;
		}
		nanosleep(&tick, NULL);
	}
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
		ev_child_stop(h->loop, &p->child);
		ev_timer_stop(h->loop, &p->timer);
		proc_wait(p);
		free(p);
	}
	free(h->ban.buf);
	free(h->unban.buf);
	free(h);
}
