/* services_cfg.h - per-service bars: [udp_flood port=53] sections. */
#ifndef DOSIPS_SERVICES_CFG_H
#define DOSIPS_SERVICES_CFG_H

#include <stddef.h>
#include "config.h"

/* The check of every [syn_flood|udp_flood|rate_flood SERVICE] section for
 * config_check: the service ("port=N", or "proto=NAME|N" for rate_flood),
 * the keys enabled, threshold and window with the detector's limits, at
 * most DETECT_MAX_SERVICES. 0 or -EINVAL with "file:line: message" in err. */
int services_cfg_check(const struct config *cfg, char *err, size_t errlen);

/* Fills cfg->detect.svc from those sections, each starting from its
 * detector's settings; 0 or -EINVAL as services_cfg_check. */
int services_cfg_apply(struct config *cfg, char *err, size_t errlen);

#endif
