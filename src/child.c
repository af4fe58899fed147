/* child.c - child programs (hooks, sendmail) run beside the loop.
 *
 * A child is started under a keeper (below) that gives up every
 * capability for good and sets no_new_privs before it forks the program,
 * waits for the program's whole process tree, and kills that tree at the
 * deadline. The program's input is a pipe filled before it starts, so the
 * write can neither block nor meet a reader that is gone; its stdout joins
 * our stderr. ev_child reaps the keeper and an ev_timer is the backstop
 * should the keeper itself stall: the loop never waits for a child. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"

#define CHILD_GRACE_S 2.0   /* past the deadline, the keeper itself is killed */

struct child {
	ev_child child;
	ev_timer timer;
	struct ev_loop *loop;
	child_done_fn done;
	void *ctx;
	double deadline;      /* ev_now() past which the keeper is killed */
	pid_t pid;            /* the keeper's */
	bool killed;          /* by the backstop */
};

/* A pipe already holding the input; returns its read end or -errno. */
static int stdin_pipe(const struct iovec *in, int nin)
{
	size_t len = 0;
	int p[2], cap;

	for (int i = 0; i < nin; i++)
		len += in[i].iov_len;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if ((cap = fcntl(p[1], F_GETPIPE_SZ)) < 0 || len > (size_t)cap) {
		close(p[0]);
		close(p[1]);
		return -EMSGSIZE;
	}
	if (len && (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0 ||
		    writev(p[1], in, nin) != (ssize_t)len)) {
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
	int out;            /* its stdout, or 0 for our stderr */
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
	if (dup2(rq->in, STDIN_FILENO) < 0 ||
	    dup2(rq->out ? rq->out : STDERR_FILENO, STDOUT_FILENO) < 0 ||
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

/* Forks the keeper of rq with its input on stdin; returns once the
 * program has been exec'd (0, the keeper's pid in *pid) or failed to
 * (-errno). */
static int spawn(const struct child_req *c, pid_t *pid)
{
	struct keeper_req rq = {
		.argv = c->argv, .env = c->env, .timeout_ms = c->timeout_ms,
		.as_user = c->as_user, .uid = c->uid, .gid = c->gid, .out = c->out,
	};
	sigset_t all, old;
	int ep[2], e = 0, r = 0;
	ssize_t n;

	if ((rq.in = stdin_pipe(c->in, c->nin)) < 0)
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

/* Death by SIGKILL is the keeper's word for a program it had to kill at
 * its deadline. */
static void on_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child *s = w->data;
	int st = w->rstatus;

	ev_child_stop(loop, &s->child);
	ev_timer_stop(loop, &s->timer);
	s->done(s, st, s->killed || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL), s->ctx);
	free(s);
}

/* A backstop: the keeper kills the tree at the deadline itself and this
 * should never fire; if it does (a keeper stopped, say) its group goes. */
static void on_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct child *s = w->data;

	s->killed = true;
	kill(-s->pid, SIGKILL);
}

int child_start(struct ev_loop *loop, const struct child_req *rq, struct child **out)
{
	double grace = rq->timeout_ms / 1000.0 + CHILD_GRACE_S;
	struct child *s;
	int r;

	/* libev reaps children only in its default loop. */
	if (!ev_is_default_loop(loop))
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if ((r = spawn(rq, &s->pid)) < 0) {
		free(s);
		return r;
	}
	s->loop = loop;
	s->done = rq->done;
	s->ctx = rq->ctx;
	s->deadline = ev_now(loop) + grace;
	ev_child_init(&s->child, on_exit_cb, s->pid, 0);
	ev_timer_init(&s->timer, on_timeout_cb, grace, 0);
	s->child.data = s->timer.data = s;
	ev_child_start(loop, &s->child);
	ev_timer_start(loop, &s->timer);
	if (out)
		*out = s;
	return 0;
}

pid_t child_pid(const struct child *s)
{
	return s->pid;
}

void child_finish(struct child *s)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int st;

	ev_child_stop(s->loop, &s->child);
	ev_timer_stop(s->loop, &s->timer);
	while (waitpid(s->pid, &st, WNOHANG) == 0) {
		if (ev_time() >= s->deadline) {
			kill(-s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			break;
		}
		nanosleep(&tick, NULL);
	}
	free(s);
}
