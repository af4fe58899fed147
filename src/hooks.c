/* hooks.c - on_ban/on_unban programs: spawned, fed, timed and reaped in
 * the loop, so a slow hook holds up neither capture nor the next ban. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"

#define HOOK_WORDS 32
#define HOOK_VARS 7
#define HOOK_GRACE_S 2.0    /* past the deadline, the keeper itself is killed */

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

static void on_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct hook_proc *p = w->data;
	int st = w->rstatus;

	ev_child_stop(loop, &p->child);
	ev_timer_stop(loop, &p->timer);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && !p->killed) {
		/* The keeper's word for a hook tree it had to kill at its deadline. */
		p->h->st.killed++;
		log_warn("hook %s (pid %d) still running after %gs: killed", p->name,
			 (int)p->pid, p->h->timeout_ms / 1000.0);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
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

/* A backstop: the keeper kills the hook tree at the deadline itself and
 * this should never fire; if it does (a keeper stopped, say) its group
 * goes. */
static void on_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook_proc *p = w->data;

	p->killed = 1;
	p->h->st.killed++;
	kill(-p->pid, SIGKILL);
	log_warn("hook %s (pid %d) still running %gs after its deadline: killed its keeper",
		 p->name, (int)p->pid, HOOK_GRACE_S);
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

/* ---- the keeper: a forked child between dosips and the hook -------------
 *
 * Each hook runs under a keeper, a child of dosips that never execs: it
 * drops every capability for good, becomes a child subreaper, forks the
 * hook and waits for the hook's whole tree. A hook that daemonises (double
 * fork, setsid) leaves its orphans to the keeper, not to init, so the
 * keeper lives, and counts against hook_max, until every last descendant
 * is gone; at hook_timeout it kills them all, whatever session or group
 * they moved to, and then itself with SIGKILL, which is how dosips learns
 * that the hook overran. Between fork and exec only async-signal-safe
 * calls are made (raw syscalls, no malloc, no stdio).
 *
 * Capabilities: the bounding set is emptied where dosips may (it holds
 * CAP_SETPCAP); the ambient, inheritable, permitted and effective sets are
 * cleared; and no_new_privs is set, so the exec of a program by uid 0 does
 * not grant the bounding set back (the kernel caps the new permitted set
 * at the old, empty one). With hook_user the keeper first becomes that
 * user, which needs dosips to hold CAP_SETUID and CAP_SETGID.
 */

struct keeper_req {
	char *const *argv;
	char *const *env;
	int in;             /* the hook's stdin */
	int err;            /* exec's errno goes here; closed on exec */
	uint32_t timeout_ms;
	bool as_user;
	uid_t uid;
	gid_t gid;
};

static void keeper_fail(int err, int e)
{
	(void)!write(err, &e, sizeof(e));
	_exit(127);
}

/* Default dispositions for every signal; mask as given. */
static void signals_reset(const sigset_t *mask)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
}

/* Gives up every capability for good (see above); 0 or -errno. */
static int drop_caps(const struct keeper_req *rq)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	gid_t gid = rq->gid;

	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
			break;  /* past the last capability; EPERM: not ours to drop */
	if (rq->as_user && (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
			    setresuid(rq->uid, rq->uid, rq->uid) < 0))
		return -errno;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Appends the decimal digits of n to buf at *i. */
static void put_uint(char *buf, size_t *i, unsigned n)
{
	char d[12];
	int k = 0;

	do
		d[k++] = (char)('0' + n % 10);
	while ((n /= 10));
	while (k)
		buf[(*i)++] = d[--k];
}

/* SIGKILL to every child of the keeper, as the kernel lists them. */
static void kill_children(void)
{
	char path[64] = "/proc/self/task/", buf[4096];
	size_t i = strlen(path);
	unsigned pid = 0;
	bool in = false;
	ssize_t n;
	int fd;

	put_uint(path, &i, (unsigned)getpid());
	memcpy(path + i, "/children", sizeof("/children"));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] >= '0' && buf[k] <= '9') {
				pid = pid * 10 + (unsigned)(buf[k] - '0');
				in = true;
			} else if (in) {
				kill((pid_t)pid, SIGKILL);
				pid = 0;
				in = false;
			}
		}
	}
	if (in)
		kill((pid_t)pid, SIGKILL);
	close(fd);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits for the hook (pid) and every descendant until the deadline, then
 * kills what is left. Returns the hook's wait status, or -1 if killed. */
static int keeper_wait(pid_t hook, uint32_t timeout_ms, const sigset_t *chld)
{
	double deadline = mono() + timeout_ms / 1000.0;
	int st, status = 0;
	pid_t p;

	for (;;) {
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == hook)
				status = st;
		if (p < 0)
			return status;     /* ECHILD: the whole tree is gone */
		double left = deadline - mono();

		if (left <= 0)
			break;
		struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) };

		sigtimedwait(chld, NULL, &ts);
	}
	/* Orphans of a killed child come to us: kill again until none is left. */
	do
		kill_children();
	while (waitpid(-1, &st, 0) > 0 || errno == EINTR);
	return -1;
}

static _Noreturn void keeper(const struct keeper_req *rq)
{
	sigset_t chld, none;
	pid_t hook;
	int st, r;

	sigemptyset(&none);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	signals_reset(&chld);
	setpgid(0, 0);
	if (dup2(rq->in, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0 ||
	    (rq->err != 3 && dup3(rq->err, 3, O_CLOEXEC) < 0))
		keeper_fail(rq->err, errno);
	close_range(4, ~0u, 0);     /* none of dosips's sockets stays open here */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		keeper_fail(3, errno);
	if ((r = drop_caps(rq)) < 0)
		keeper_fail(3, -r);
	if ((hook = fork()) < 0)
		keeper_fail(3, errno);
	if (hook == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(rq->argv[0], rq->argv, rq->env);
		keeper_fail(3, errno);
	}
	close(3);
	close(STDIN_FILENO);
	if ((st = keeper_wait(hook, rq->timeout_ms, &chld)) < 0)
		kill(getpid(), SIGKILL);    /* overran: said as death by SIGKILL */
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* Forks the keeper of cmd with the line on stdin; returns once the hook
 * has been exec'd (0, the keeper's pid in *pid) or failed to (-errno). */
static int spawn(const struct hooks *h, const struct hook_cmd *cmd, char **env,
		 const char *json, size_t len, pid_t *pid)
{
	struct keeper_req rq = {
		.argv = cmd->argv, .env = env, .timeout_ms = h->timeout_ms,
		.as_user = h->as_user, .uid = h->uid, .gid = h->gid,
	};
	sigset_t all, old;
	int ep[2], e = 0, r = 0;
	ssize_t n;

	if ((rq.in = stdin_pipe(json, len)) < 0)
		return rq.in;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(rq.in);
		return -errno;
	}
	rq.err = ep[1];
	/* No handler of dosips's may run in the child before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((*pid = fork()) == 0)
		keeper(&rq);
	if (*pid < 0)
		r = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	close(rq.in);
	while (r == 0 && (n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	return r ? r : e ? -e : 0;
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
	r = spawn(h, cmd, env, json, len, &p->pid);
	free(env);
	if (r < 0)
		goto fail;
	p->h = h;
	p->name = name;
	p->deadline = ev_now(h->loop) + h->timeout_ms / 1000.0 + HOOK_GRACE_S;
	ev_child_init(&p->child, on_exit_cb, p->pid, 0);
	ev_timer_init(&p->timer, on_timeout_cb, h->timeout_ms / 1000.0 + HOOK_GRACE_S, 0);
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
	ratelimit_free(h->rl);
	free(h);
}
