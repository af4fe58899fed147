/* stats.h - every counter of the daemon, named once for all who show them. */
#ifndef DOSIPS_STATS_H
#define DOSIPS_STATS_H

#include <stdint.h>
#include "capture.h"
#include "ctl.h"
#include "detect.h"

/* Groups: the lines of the report; each counter belongs to one. */
enum stats_group {
	STATS_CAPTURE, STATS_PROTOCOLS, STATS_SKIPPED, STATS_KERNEL, STATS_ALERTS,
	STATS_SOURCES, STATS_BANS, STATS_LATENCY, STATS_FIREWALL, STATS_HOOKS,
	STATS_NOTIFY, STATS_WORKERS, STATS_HISTORY, STATS_UPSTREAM,
	STATS__GROUPS
};

/* Receives one counter: its stable key ("tcp", "skipped.bad_ip4",
 * "alerts.syn_flood", "verdict_to_kernel_us.max", ...) and value. */
typedef void (*stats_fn)(enum stats_group g, const char *key, uint64_t value, void *ctx);

/* Hands every counter of the daemon v shows to fn, group by group, in a
 * fixed order. Kernel counters only when the capture has them, history
 * counters only with a history. */
void stats_collect(const struct ctl_view *v, stats_fn fn, void *ctx);

/* The capture counters: of the one capture, or summed over the workers. */
void stats_capture(const struct ctl_view *v, struct capture_stats *cs);

/* The detect counters: of the one detect, or summed over the workers. */
void stats_detect(const struct ctl_view *v, struct detect_stats *ds);

#endif
