/* child.c - child programs (hooks, sendmail) run beside the loop.
 *
 * A child is started with posix_spawn, so nothing runs between fork and
 * exec in our address space; it gets its input through a pipe filled
 * before it starts (the write can neither block nor meet a reader that is
 * gone), a process group of its own so that a timeout kills it with every
 * child it made, and clean signal state. ev_child reaps it and an ev_timer
 * enforces its deadline: the loop never waits for a child. Capabilities:
 * after set-up the daemon's bounding set is empty (privs.c), so whatever
 * is spawned runs with none. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"

struct child {
	ev_child child;
	ev_timer timer;
	struct ev_loop *loop;
	child_done_fn done;
	void *ctx;
	double deadline;      /* ev_now() at which it is killed */
	pid_t pid;
	bool killed;
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

/* stdout joins our stderr, so a child cannot interleave with JSON lines on
 * our stdout. */
static int spawn_exec(const struct child_req *rq, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int in, r;

	if ((in = stdin_pipe(rq->in, rq->nin)) < 0)
		return in;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	spawn_attr(&at);
	r = -posix_spawn(pid, rq->argv[0], &fa, &at, rq->argv, rq->env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	return r;
}

static void on_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child *s = w->data;

	ev_child_stop(loop, &s->child);
	ev_timer_stop(loop, &s->timer);
	s->done(s, w->rstatus, s->killed, s->ctx);
	free(s);
}

/* The whole process group goes, so a child's own children cannot linger;
 * done comes when ev_child has reaped it. */
static void on_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct child *s = w->data;

	s->killed = true;
	kill(-s->pid, SIGKILL);
}

int child_start(struct ev_loop *loop, const struct child_req *rq, struct child **out)
{
	struct child *s;
	int r;

	/* libev reaps children only in its default loop. */
	if (!ev_is_default_loop(loop))
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if ((r = spawn_exec(rq, &s->pid)) < 0) {
		free(s);
		return r;
	}
	s->loop = loop;
	s->done = rq->done;
	s->ctx = rq->ctx;
	s->deadline = ev_now(loop) + rq->timeout_ms / 1000.0;
	ev_child_init(&s->child, on_exit_cb, s->pid, 0);
	ev_timer_init(&s->timer, on_timeout_cb, rq->timeout_ms / 1000.0, 0);
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
