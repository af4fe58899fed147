/* jsonl.h - the JSON-lines file: every event on the bus, one line each. */
#ifndef DOSIPS_JSONL_H
#define DOSIPS_JSONL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "events.h"
#include "ratelimit.h"

struct jsonl;

/* Opens the sink: NULL or "" for none, "-" for stdout, else a file
 * appended to, never through a symlink (-ELOOP). 0 or -errno. */
int jsonl_open(const char *path, struct jsonl **out);

/* Reopens the file by its path (log rotation); 0 or -errno, the old file
 * kept on failure. */
int jsonl_reopen(struct jsonl *j);

/* Points the sink at another path (reload); "" or NULL for none. 0 or
 * -errno, the old file kept on failure. */
int jsonl_set_path(struct jsonl *j, const char *path);

/* Caps the file at bytes (0: no cap): lines that would pass it are
 * dropped, with one warning, until the file is reopened (rotation). */
void jsonl_set_max(struct jsonl *j, uint64_t bytes);

/* Gives the open file to uid:gid, so that a reopen after dosips becomes
 * that user still works. 0 or -errno. */
int jsonl_chown(struct jsonl *j, uid_t uid, gid_t gid);

/* The path written to, or "" for none. */
const char *jsonl_path(const struct jsonl *j);

/* Limits alert, whitelisted and ban_cap lines to cfg (interval 0: every
 * line), with a "suppressed" line per window that held some back; bans and
 * unbans are always written. 0 or -ENOMEM. */
int jsonl_set_limit(struct jsonl *j, const struct ratelimit_cfg *cfg);

/* Writes the "suppressed" lines of windows ended by now_us (UINT64_MAX:
 * all, at exit). */
void jsonl_tick(struct jsonl *j, uint64_t now_us);

/* The bus subscriber (ctx: the struct jsonl): appends json and a newline. */
void jsonl_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Closes the file; NULL is fine. */
void jsonl_close(struct jsonl *j);

#endif
