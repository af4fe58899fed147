/* jsonl.h - the JSON-lines file: every event on the bus, one line each. */
#ifndef DOSIPS_JSONL_H
#define DOSIPS_JSONL_H

#include <stddef.h>
#include "events.h"

struct jsonl;

/* Opens the sink: NULL or "" for none, "-" for stdout, else a file
 * appended to. 0 or -errno. */
int jsonl_open(const char *path, struct jsonl **out);

/* Reopens the file by its path (log rotation); 0 or -errno, the old file
 * kept on failure. */
int jsonl_reopen(struct jsonl *j);

/* Points the sink at another path (reload); "" or NULL for none. 0 or
 * -errno, the old file kept on failure. */
int jsonl_set_path(struct jsonl *j, const char *path);

/* The path written to, or "" for none. */
const char *jsonl_path(const struct jsonl *j);

/* The bus subscriber (ctx: the struct jsonl): appends json and a newline. */
void jsonl_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Closes the file; NULL is fine. */
void jsonl_close(struct jsonl *j);

#endif
