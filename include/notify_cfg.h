/* notify_cfg.h - the settings of [notify NAME] sections, read and checked
 * apart from the sending, so that config.c (and dosipsctl) can check them
 * without the HTTP client. */
#ifndef DOSIPS_NOTIFY_CFG_H
#define DOSIPS_NOTIFY_CFG_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

enum notify_type {
	NOTIFY_SLACK, NOTIFY_DISCORD, NOTIFY_MATTERMOST, NOTIFY_TEAMS, NOTIFY_WEBHOOK,
	NOTIFY_MAIL, NOTIFY__MAX
};

enum notify_sev { SEV_INFO, SEV_NOTICE, SEV_WARNING, SEV_CRITICAL, SEV__MAX };

#define NOTIFY_URL_MAX 1024
#define NOTIFY_RATE_MAX 60          /* messages a minute, at most */

/* One notifier's settings, from its section. */
struct notify_cfg {
	char name[64];
	int type;                   /* enum notify_type, -1 unset */
	char url[NOTIFY_URL_MAX];   /* read from url_file */
	char to[512], from[256];
	char sendmail[512];
	char cainfo[512];
	uint64_t types;             /* event types wanted, a bit each */
	uint64_t alert_kinds;       /* alerts of these kinds wanted */
	uint64_t kinds;             /* kinds let through */
	enum notify_sev sev;
	uint32_t rate, digest_ms, timeout_ms, retries, queue;
};

/* "slack", ...; NULL past the last. */
const char *notify_type_name(enum notify_type t);
/* The type named s, or -1. */
int notify_type_parse(const char *s);
/* "info", "notice", "warning", "critical"; parse gives -1 when unknown. */
const char *notify_sev_name(enum notify_sev s);
int notify_sev_parse(const char *s);

/* The check of every [notify NAME] section for config_check: known keys
 * and values, url_file/to_file readable and well-formed. 0 or -EINVAL
 * with "file:line: message" in err. */
int notify_cfg_check(const struct config *cfg, char *err, size_t errlen);

/* Every [notify NAME] section of cfg, in order, as a malloc'd array in
 * *out (*n entries). 0, or -errno with "file:line: message" in err. */
int notify_cfg_parse(const struct config *cfg, struct notify_cfg **out, size_t *n, char *err,
		     size_t errlen);

#endif
