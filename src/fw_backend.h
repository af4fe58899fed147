/* fw_backend.h - what fw.c dispatches to: private to fw.c, nft.c, fw_null.c. */
#ifndef DOSIPS_FW_BACKEND_H
#define DOSIPS_FW_BACKEND_H

#include <stddef.h>
#include "fw.h"

struct fw_ops {
	int (*ban)(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms, const char *note);
	int (*unban)(struct fw *fw, const struct ip_prefix *p);
	int (*set_allow)(struct fw *fw, const struct ip_prefix *p, size_t n);
	int (*commit)(struct fw *fw);
	int (*adopt)(struct fw *fw, fw_elem_cb cb, void *ctx);
	int (*monitor_fd)(struct fw *fw);
	int (*monitor_check)(struct fw *fw);
	void (*monitor_missed)(struct fw *fw);
	int (*flush)(struct fw *fw);
	void (*close)(struct fw *fw);
};

/* The head of every backend's own struct. */
struct fw {
	const struct fw_ops *ops;
	struct fw_stats st;
	fw_result_cb result;        /* may be NULL */
	void *result_ctx;
};

/* Hands one change's outcome to the result callback, if any. */
void fw_report(struct fw *fw, enum fw_op op, const struct ip_prefix *p, int err,
	       const char *why);


#endif
