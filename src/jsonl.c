/* jsonl.c - the JSON-lines events file, a subscriber of the bus.
 *
 * One write(2) per event on an O_APPEND descriptor, so a reader tailing
 * the file (or several writers, should an operator point two daemons at
 * one file) never sees half a line. "-" writes to a dup of stdout, which
 * replay tests read. Rotation reopens by path: the old descriptor is
 * closed only once the new one is open, so no event is written nowhere. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonl.h"
#include "log.h"

struct jsonl {
	char *path;     /* NULL when nothing is written */
	int fd;
};

static int jsonl_open_fd(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
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
	return 0;
}

const char *jsonl_path(const struct jsonl *j)
{
	return j->path ? j->path : "";
}

void jsonl_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct jsonl *j = ctx;
	char line[1025];

	if (j->fd < 0 || !len || len >= sizeof(line))
		return;
	memcpy(line, json, len);
	line[len] = '\n';
	if (write(j->fd, line, len + 1) != (ssize_t)len + 1)
		log_warn("events: write to %s failed: %s", j->path, strerror(errno));
}

void jsonl_close(struct jsonl *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}
