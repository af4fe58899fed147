/* fw_null.h - what the null backend (--dry-run) was asked to do, and how
 * tests steer it. Only tests include this. */
#ifndef DOSIPS_FW_NULL_H
#define DOSIPS_FW_NULL_H

#include <stddef.h>
#include <stdint.h>
#include "fw.h"

/* What the null backend was asked to do (tests, --dry-run). */
struct fw_null_rec {
	enum fw_op op;
	struct ip_prefix p;
	uint64_t timeout_ms;
	char note[FW_NOTE_MAX];
};

/* Copies the last committed operations (at most max, oldest first; the
 * backend keeps the last 1024) to out; returns how many. */
size_t fw_null_history(const struct fw *fw, struct fw_null_rec *out, size_t max);

/* Operations queued and not yet committed. */
size_t fw_null_pending(const struct fw *fw);

/* Adds an element that fw_adopt will report. 0 or -ENOMEM (-EINVAL if fw
 * is not the null backend). */
int fw_null_preset(struct fw *fw, const struct ip_prefix *p, uint64_t remaining_ms,
		   const char *note);

/* Makes the next fw_commit drop its queue and fail with err (< 0). */
void fw_null_fail_next(struct fw *fw, int err);

/* The same for the next count commits. */
void fw_null_fail_commits(struct fw *fw, int err, unsigned count);

/* Makes every later ban of exactly p fail with err (< 0) and why, as the
 * kernel would refuse it; err 0 accepts it again. 0 or -ENOMEM/-EINVAL. */
int fw_null_refuse(struct fw *fw, const struct ip_prefix *p, int err, const char *why);

#endif
