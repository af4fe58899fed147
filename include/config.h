/* config.h - every knob of the daemon, from defaults, file and command line. */
#ifndef DOSIPS_CONFIG_H
#define DOSIPS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "detect.h"
#include "fw.h"
#include "mitigate.h"
#include "ratelimit.h"

#define CONFIG_PATH_MAX 4096
/* The control socket, under systemd's RuntimeDirectory=dosips; before 0.2
 * it was CONFIG_CTL_SOCKET_OLD, which dosipsctl still tries. */
#define CONFIG_CTL_SOCKET "/run/dosips/dosips.sock"
#define CONFIG_CTL_SOCKET_OLD "/run/dosips.sock"
#define CONFIG_NAMED_MAX 256    /* lines in named sections, all together */
#define CONFIG_WAIT_AUTO UINT32_MAX     /* capture_wait = auto */

/*
 * One "key = value" line of a named section: "[feed firehol]" (type
 * "feed", name "firehol") or "[udp_flood port=53]". config.c only keeps
 * them; the module that owns a type reads and checks its sections (see
 * config_check), so adding one touches one row of config.c's table.
 */
struct config_entry {
	char type[24];
	char name[64];
	char key[40];
	char value[512];
	uint32_t line;              /* in config.file */
};

/* [reputation]: AbuseIPDB enrichment and what reputation changes. */
struct reputation_cfg {
	char key_file[CONFIG_PATH_MAX];     /* "" = no AbuseIPDB */
	char url[256];                      /* API base, .../api/v2 */
	char cainfo[CONFIG_PATH_MAX];       /* "" = the system's CAs */
	uint32_t daily_limit;               /* checks per UTC day at most */
	bool report;                        /* report bans to AbuseIPDB */
	uint32_t threshold;                 /* abuse score that counts as bad */
	uint32_t ban_factor;                /* first ban x this when bad (1 off) */
};

struct config {
	char iface[64];             /* "" = the default route's interface */
	char whitelist[CONFIG_PATH_MAX];
	char events[CONFIG_PATH_MAX];   /* "" none, "-" stdout */
	char history[CONFIG_PATH_MAX];  /* the SQLite history, "" none */
	uint32_t history_days;          /* retention, 0 = keep all */
	uint32_t events_max_mb;     /* the events file stops growing here; 0 no cap */
	char table[32];
	char ctl_socket[CONFIG_PATH_MAX];
	char ctl_group[64];
	char on_ban[CONFIG_PATH_MAX];
	char on_unban[CONFIG_PATH_MAX];
	char user[64];              /* run as this user after set-up ("" root) */
	char hook_user[64];         /* hooks run as this user ("" as dosips) */
	char state_dir[CONFIG_PATH_MAX];    /* feeds' last good copies, caches */
	uint32_t hook_timeout_ms;
	uint32_t hook_max;          /* hooks running at once */
	uint32_t buffer_kb;         /* kernel capture buffer */
	uint32_t snaplen;
	uint32_t workers;           /* capture threads; 0 = auto (the usable cores) */
	uint32_t capture_wait_ms;   /* 0: immediate mode; CONFIG_WAIT_AUTO */
	bool syslog;
	enum fw_hook hook;
	uint32_t set_size;
	char http_listen[128];      /* "" off; "PORT" loopback; "ADDR:PORT" */
	char http_tokens[CONFIG_PATH_MAX];  /* "token role" lines */
	uint32_t http_max_clients;  /* connections at once, per listener */
	uint32_t http_timeout_s;    /* idle connection closed after this */
	uint32_t http_linger_s;     /* a replay keeps serving this long */
	struct ratelimit_cfg log_limit; /* alert/whitelisted/ban_cap/hook lines */
	char crowdsec_url[512];     /* CrowdSec Local API; "" = no fleet link */
	char crowdsec_credentials[CONFIG_PATH_MAX];
	char crowdsec_key_file[CONFIG_PATH_MAX];
	char crowdsec_queue[CONFIG_PATH_MAX];
	uint32_t crowdsec_poll_ms;
	uint32_t crowdsec_queue_max;
	char upstream_speaker[CONFIG_PATH_MAX]; /* gobgp CLI; "" = no FlowSpec */
	char upstream_api[128];     /* gobgpd's gRPC address host:port */
	uint32_t upstream_pps;      /* announce banned floods above this */
	uint32_t upstream_max;      /* announcements at most */
	char upstream_action[64];   /* "discard" or "rate-limit N" */
	bool upstream_rtbh;         /* refused: not implemented */
	struct detect_cfg detect;
	struct mitigate_cfg mitigate;
	struct reputation_cfg rep;
	char file[CONFIG_PATH_MAX];     /* the file read last ("" none) */
	uint32_t nnamed;
	struct config_entry named[CONFIG_NAMED_MAX];
};

/* The value of key in section [type name], or NULL. */
const char *config_named_get(const struct config *cfg, const char *type, const char *name,
			     const char *key);

/* True when cfg->named[i] is the first line of its section [type name]. */
bool config_named_first(const struct config *cfg, uint32_t i);

/* Fills cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/* Sets one key (as in the file: "ban", "syn_flood.threshold", ...) from its
 * text value; 0, or -ENOENT (unknown key) / -EINVAL with *why set. */
int config_set(struct config *cfg, const char *key, const char *value, const char **why);

/* Reads path into cfg ("key = value" lines, "[section]" headers that prefix
 * keys with "section.", "[type name]" headers whose lines go to
 * cfg->named). On error returns -errno and writes
 * "path:line: message" into err; cfg may be partly changed. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Checks cross-field consistency, and every named section through the
 * module owning its type; 0 or -EINVAL with a message in err
 * ("file:line: message" for a named section's line). */
int config_check(const struct config *cfg, char *err, size_t errlen);

/* One command-line setting: a key as in the file, the option that gave it. */
struct config_setting {
	const char *key, *opt, *value;
};

/* Where a whole configuration comes from, in the order applied. */
struct config_source {
	const char *path;                  /* the file */
	bool must_exist;                   /* else a missing file means defaults */
	const char *text;                  /* if set: read instead of the file,
					      as if it were its contents */
	const struct config_setting *set;  /* then these, in order */
	int nset;
};

/* Builds defaults, then the file, then the settings, then config_check
 * into cfg, which is changed only on success (a reload keeps the running
 * configuration when the file is bad). 0, or -errno with a message in err. */
int config_build(struct config *cfg, const struct config_source *src, char *err,
		 size_t errlen);

/* Copies into next the settings only a restart can change (interface,
 * table, control_socket, ...) from cur, and lists the keys that differed,
 * comma-separated, in changed ("" when none). */
void config_keep_restart(struct config *next, const struct config *cur, char *changed,
			 size_t len);

/* Name of the i-th key ("ban", "syn_flood.threshold", ...), or NULL past
 * the last: lets tests hold the documentation to the table. */
const char *config_key_name(size_t i);

/* Parses a duration ("90", "90s", "500ms", "5m", "2h", "1d") into ms. */
int config_parse_duration_ms(const char *s, uint64_t *ms);

#endif
