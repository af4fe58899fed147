/* child.h - child programs started, fed, timed and reaped in the loop. */
#ifndef DOSIPS_CHILD_H
#define DOSIPS_CHILD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct child;

/* Called once when the child has exited (status as from waitpid: the
 * program's exit code, or 128 + the signal that ended it) or was killed at
 * its deadline (killed true); s is freed after it returns. */
typedef void (*child_done_fn)(struct child *s, int status, bool killed, void *ctx);

/* What to run: argv[0] is a path (no PATH search, no shell). */
struct child_req {
	char *const *argv;
	char *const *env;            /* the child's whole environment */
	const struct iovec *in;      /* its stdin, written at once; may be NULL */
	int out;                     /* its stdout: a descriptor (the caller keeps
					and closes it), or 0 for our stderr */
	int nin;
	uint32_t timeout_ms;         /* then its whole process tree is killed */
	bool as_user;                /* run as uid:gid (needs CAP_SETUID/SETGID) */
	uid_t uid;
	gid_t gid;
	child_done_fn done;
	void *ctx;
};

/* Starts rq on loop (libev's default loop: ev_child) under a keeper of its
 * own: no capabilities, no_new_privs, default signal dispositions, stdin
 * fed from a pipe already holding rq->in (at most the pipe's capacity,
 * else -EMSGSIZE), stdout joined to our stderr and no other descriptor.
 * Returns once the program is exec'd (0) or could not be (-errno). */
int child_start(struct ev_loop *loop, const struct child_req *rq, struct child **out);

/* The child's pid. */
pid_t child_pid(const struct child *s);

/* Blocks until s exits or its deadline passes (then kills its group), and
 * frees s without calling its done. For shutting down only. */
void child_finish(struct child *s);

#endif
