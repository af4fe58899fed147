/* jsonl.c - the JSON-lines events file, a subscriber of the bus.
 *
 * One write(2) per event on an O_APPEND descriptor, so a reader tailing
 * the file (or several writers, should an operator point two daemons at
 * one file) never sees half a line. "-" writes to a dup of stdout, which
 * replay tests read. Rotation reopens by path: the old descriptor is
 * closed only once the new one is open, so no event is written nowhere.
 * Lines a flood multiplies (alerts, whitelisted, ban_cap) pass a limiter
 * (ratelimit.c) and what it holds back is summed in "suppressed" lines;
 * every ban and unban is written. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"
#include "log.h"

struct jsonl {
	char *path;     /* NULL when nothing is written */
	int fd;
	struct ratelimit *rl;   /* NULL: every line */
	uint64_t size;          /* of the file, as we know it */
	uint64_t max;           /* 0: no cap */
	bool full;              /* at the cap: lines dropped until rotation */
};

/* The size of the new file: lines go on after what is there. */
static void jsonl_fresh(struct jsonl *j)
{
	struct stat st;

	j->size = j->fd >= 0 && fstat(j->fd, &st) == 0 && S_ISREG(st.st_mode) ?
		  (uint64_t)st.st_size : 0;
	j->full = false;
}

static int jsonl_open_fd(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	/* O_NOFOLLOW: a symlink planted at the path cannot turn our writes
	 * (as root, at start) into someone else's file. */
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

int jsonl_open(const char *path, struct jsonl **out)
{
	struct jsonl *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->fd = -1;
	if ((r = jsonl_set_path(j, path)) < 0) {
		free(j);
		return r;
	}
	*out = j;
	return 0;
}

int jsonl_reopen(struct jsonl *j)
{
	int fd;

	if (!j->path || strcmp(j->path, "-") == 0)
		return 0;
	if ((fd = jsonl_open_fd(j->path)) < 0)
		return -errno;
	close(j->fd);
	j->fd = fd;
	jsonl_fresh(j);
	return 0;
}

int jsonl_set_path(struct jsonl *j, const char *path)
{
	char *p = NULL;
	int fd = -1;

	if (path && *path) {
		if (!(p = strdup(path)))
			return -ENOMEM;
		if ((fd = jsonl_open_fd(path)) < 0) {
			free(p);
			return -errno;
		}
	}
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	j->path = p;
	j->fd = fd;
	jsonl_fresh(j);
	return 0;
}

void jsonl_set_max(struct jsonl *j, uint64_t bytes)
{
	j->max = bytes;
	j->full = false;
}

int jsonl_chown(struct jsonl *j, uid_t uid, gid_t gid)
{
	if (j->fd < 0 || strcmp(j->path, "-") == 0)
		return 0;
	return fchown(j->fd, uid, gid) < 0 ? -errno : 0;
}

const char *jsonl_path(const struct jsonl *j)
{
	return j->path ? j->path : "";
}

int jsonl_set_limit(struct jsonl *j, const struct ratelimit_cfg *cfg)
{
	if (j->rl) {
		ratelimit_set_cfg(j->rl, cfg);
		return 0;
	}
	return ratelimit_new(cfg, &j->rl);
}

static void jsonl_write(struct jsonl *j, const char *json, size_t len)
{
	char line[1025];

	if (j->fd < 0 || !len || len >= sizeof(line))
		return;
	if (j->max && j->size + len + 1 > j->max) {
		if (!j->full)
			log_warn("events: %s reached events_max_mb: no more lines until it is "
				 "rotated (SIGHUP)", j->path);
		j->full = true;
		return;
	}
	memcpy(line, json, len);
	line[len] = '\n';
	if (write(j->fd, line, len + 1) != (ssize_t)len + 1)
		log_warn("events: write to %s failed: %s", j->path, strerror(errno));
	else
		j->size += len + 1;
}

static void jsonl_suppressed(const struct ratelimit_report *r, void *ctx)
{
	char line[512];
	int n = events_suppressed_json(r, line, sizeof(line));

	if (n > 0)
		jsonl_write(ctx, line, (size_t)n);
}

void jsonl_tick(struct jsonl *j, uint64_t now_us)
{
	ratelimit_tick(j->rl, now_us, jsonl_suppressed, j);
}

void jsonl_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct jsonl *j = ctx;

	if (j->fd < 0)
		return;
	if (events_limited(e->type) &&
	    !ratelimit_allow(j->rl, e->type, &e->src, e->ts_us, jsonl_suppressed, j))
		return;
	jsonl_write(j, json, len);
}

void jsonl_close(struct jsonl *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	ratelimit_free(j->rl);
	free(j->path);
	free(j);
}
