/* config.c - a table of keys, each with a parser and a place in the config. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgp.h"
#include "config.h"
#include "feeds.h"
#include "http.h"
#include "notify_cfg.h"
#include "privs.h"
#include "services_cfg.h"

enum key_type { K_STR, K_BOOL, K_U32, K_MS, K_SEC, K_HOOK, K_PREFIX4, K_PREFIX6, K_LOCAL,
		K_WORKERS, K_WAIT };

struct key {
	const char *name;
	enum key_type type;
	size_t off;     /* offset in struct config */
	size_t size;    /* for K_STR: buffer size */
	uint32_t min, max;
};

#define OFF(f) offsetof(struct config, f)
#define STR(n, f) { n, K_STR, OFF(f), sizeof(((struct config *)0)->f), 0, 0 }
#define NUM(n, t, f, lo, hi) { n, t, OFF(f), 0, lo, hi }
#define DET(k, name)                                                              \
	NUM(name ".enabled", K_BOOL, detect.det[k].enabled, 0, 1),                \
	NUM(name ".threshold", K_U32, detect.det[k].threshold, 1, DETECT_MAX_THRESHOLD), \
	NUM(name ".window", K_MS, detect.det[k].window_ms, 1, DETECT_MAX_WINDOW_MS),     \
	NUM(name ".rings", K_U32, detect.pool[k], 0, DETECT_MAX_RINGS)

static const struct key config_keys[] = {
	STR("interface", iface),
	STR("whitelist", whitelist),
	STR("events", events),
	NUM("events_max_mb", K_U32, events_max_mb, 0, 1048576),
	STR("history", history),
	NUM("history_days", K_U32, history_days, 0, 36500),
	STR("table", table),
	STR("control_socket", ctl_socket),
	STR("control_group", ctl_group),
	STR("on_ban", on_ban),
	STR("on_unban", on_unban),
	STR("user", user),
	STR("hook_user", hook_user),
	STR("state_dir", state_dir),
	STR("reputation.abuseipdb_key_file", rep.key_file),
	STR("reputation.abuseipdb_url", rep.url),
	STR("reputation.abuseipdb_cainfo", rep.cainfo),
	NUM("reputation.abuseipdb_daily_limit", K_U32, rep.daily_limit, 1, 10000000),
	NUM("reputation.abuseipdb_report", K_BOOL, rep.report, 0, 1),
	NUM("reputation.threshold", K_U32, rep.threshold, 0, 100),
	NUM("reputation.ban_factor", K_U32, rep.ban_factor, 1, 1000),
	NUM("hook_timeout", K_MS, hook_timeout_ms, 1, 3600000),
	NUM("hook_max", K_U32, hook_max, 1, 1024),
	NUM("buffer_kb", K_U32, buffer_kb, 64, 4194304),
	NUM("snaplen", K_U32, snaplen, 96, 65535),
	NUM("workers", K_WORKERS, workers, 0, 64),
	NUM("capture_wait", K_WAIT, capture_wait_ms, 0, 1000),
	NUM("syslog", K_BOOL, syslog, 0, 1),
	NUM("hook", K_HOOK, hook, 0, 0),
	NUM("set_size", K_U32, set_size, 16, FW_MAX_SET_SIZE),
	STR("http_listen", http_listen),
	STR("http_tokens", http_tokens),
	NUM("http_max_clients", K_U32, http_max_clients, 1, 4096),
	NUM("http_timeout", K_SEC, http_timeout_s, 1, 3600),
	NUM("http_linger", K_SEC, http_linger_s, 0, 86400),
	NUM("log_interval", K_MS, log_limit.interval_ms, 0, 3600000),
	NUM("log_limit", K_U32, log_limit.per_class, 1, 100000000),
	NUM("log_limit_source", K_U32, log_limit.per_source, 1, 100000000),
	STR("crowdsec.url", crowdsec_url),
	STR("crowdsec.credentials", crowdsec_credentials),
	STR("crowdsec.api_key_file", crowdsec_key_file),
	STR("crowdsec.queue", crowdsec_queue),
	NUM("crowdsec.poll", K_MS, crowdsec_poll_ms, 100, 3600000),
	NUM("crowdsec.queue_max", K_U32, crowdsec_queue_max, 1, 1000000),
	STR("upstream.speaker", upstream_speaker),
	STR("upstream.api", upstream_api),
	NUM("upstream.pps", K_U32, upstream_pps, 1, 1000000000),
	NUM("upstream.max", K_U32, upstream_max, 1, 100000),
	STR("upstream.action", upstream_action),
	NUM("upstream.rtbh", K_BOOL, upstream_rtbh, 0, 1),
	NUM("ban", K_SEC, mitigate.ban_s, 1, 31536000),
	NUM("ban_max", K_SEC, mitigate.ban_max_s, 1, 31536000),
	NUM("escalate", K_U32, mitigate.escalate, 1, 1000),
	NUM("offence_memory", K_SEC, mitigate.memory_s, 0, 31536000),
	NUM("max_bans", K_U32, mitigate.max_bans, 1, FW_MAX_SET_SIZE),
	NUM("aggregate_ipv4", K_PREFIX4, mitigate.aggregate_v4, 0, 32),
	NUM("aggregate_ipv6", K_PREFIX6, mitigate.aggregate_v6, 0, 128),
	NUM("aggregate_min", K_U32, mitigate.aggregate_min, 2, 65536),
	NUM("cooldown", K_MS, detect.cooldown_ms, 0, DETECT_MAX_WINDOW_MS),
	NUM("capacity", K_U32, detect.capacity, DETECT_MIN_CAPACITY, DETECT_MAX_CAPACITY),
	NUM("dst_capacity", K_U32, detect.dst_capacity, 1, DETECT_MAX_DST_CAP),
	NUM("ipv4_prefix", K_PREFIX4, detect.v4_prefix, 8, 32),
	NUM("ipv6_prefix", K_PREFIX6, detect.v6_prefix, 16, 128),
	NUM("flow_capacity", K_U32, detect.flow_capacity, DETECT_MIN_CAPACITY, DETECT_MAX_CAPACITY),
	NUM("flow_timeout", K_MS, detect.flow_timeout_ms, 1000, 86400000),
	NUM("local", K_LOCAL, detect.local, 0, 0),
	DET(KIND_SYN_FLOOD, "syn_flood"),
	DET(KIND_UDP_FLOOD, "udp_flood"),
	DET(KIND_ICMP_FLOOD, "icmp_flood"),
	DET(KIND_PORT_SCAN, "port_scan"),
	DET(KIND_RATE_FLOOD, "rate_flood"),
	DET(KIND_DDOS, "ddos"),
	DET(KIND_REFLECTION, "reflection"),
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->whitelist, sizeof(cfg->whitelist), "%s/dosips/whitelist", SYSCONFDIR);
	snprintf(cfg->table, sizeof(cfg->table), "dosips");
	snprintf(cfg->ctl_socket, sizeof(cfg->ctl_socket), "%s", CONFIG_CTL_SOCKET);
	snprintf(cfg->user, sizeof(cfg->user), "%s", PRIVS_DEFAULT_USER);
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/dosips");
	snprintf(cfg->rep.url, sizeof(cfg->rep.url), "https://api.abuseipdb.com/api/v2");
	cfg->rep.daily_limit = 1000;
	cfg->rep.threshold = 75;
	cfg->rep.ban_factor = 1;
	snprintf(cfg->history, sizeof(cfg->history), "%s/dosips/history.db", LOCALSTATEDIR);
	cfg->history_days = 30;
	cfg->hook_timeout_ms = 5000;
	cfg->hook_max = 8;
	cfg->buffer_kb = 8192;
	cfg->snaplen = 256;
	cfg->workers = 1;
	cfg->capture_wait_ms = CONFIG_WAIT_AUTO;
	cfg->hook = FW_HOOK_INGRESS;
	cfg->set_size = FW_SET_SIZE;
	cfg->http_max_clients = 64;
	cfg->http_timeout_s = 30;
	cfg->log_limit = (struct ratelimit_cfg){ .interval_ms = 10000, .per_class = 50,
						 .per_source = 5 };
	snprintf(cfg->crowdsec_queue, sizeof(cfg->crowdsec_queue), "/var/lib/dosips/crowdsec-queue");
	cfg->crowdsec_poll_ms = 10000;
	cfg->crowdsec_queue_max = 10000;
	snprintf(cfg->upstream_api, sizeof(cfg->upstream_api), "127.0.0.1:50051");
	cfg->upstream_pps = 100000;
	cfg->upstream_max = 100;
	snprintf(cfg->upstream_action, sizeof(cfg->upstream_action), "discard");
	detect_cfg_defaults(&cfg->detect);
	mitigate_cfg_defaults(&cfg->mitigate);
}

int config_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct { const char *sfx; uint64_t mul; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	char *end;
	double v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || v < 0 || v > 1e12)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].sfx) == 0) {
			double r = v * (double)units[i].mul + 0.5;

			/* Past 2^53 ms (285,000 years) a double no longer holds
			 * whole milliseconds, and far past it no uint64_t. */
			if (r >= 9007199254740992.0)
				return -EINVAL;
			*ms = (uint64_t)r;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_bool(const char *s, uint32_t *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *v = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *v = 0, 0;
	}
	return -EINVAL;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)n;
	return 0;
}

/* Parses value by the key's type into v; why names what was expected. */
static int parse_value(const struct key *k, const char *value, uint32_t *v,
		       const char **why)
{
	uint64_t ms;
	int r;

	switch (k->type) {
	case K_BOOL:
		*why = "expected yes or no";
		return parse_bool(value, v);
	case K_U32:
	case K_PREFIX4:
	case K_PREFIX6:
		*why = "expected a whole number";
		return parse_u32(value, v);
	case K_WAIT:
		if (strcmp(value, "auto") == 0)
			return *v = CONFIG_WAIT_AUTO, 0;
		/* fall through */
	case K_MS:
	case K_SEC:
		*why = k->type == K_WAIT ? "expected auto or a duration such as 0, 1ms, 10ms" :
					   "expected a duration such as 90, 90s, 500ms, 5m, 2h";
		if ((r = config_parse_duration_ms(value, &ms)) < 0)
			return r;
		if (k->type == K_SEC && ms % 1000)
			return *why = "expected whole seconds", -EINVAL;
		ms = k->type == K_SEC ? ms / 1000 : ms;
		if (ms > UINT32_MAX)
			return -EINVAL;
		*v = (uint32_t)ms;
		return 0;
	case K_WORKERS:
		*why = "expected a whole number or auto";
		if (strcmp(value, "auto") == 0)
			return *v = 0, 0;
		return parse_u32(value, v);
	case K_HOOK:
		*why = "expected ingress, prerouting, input or forward";
		r = fw_hook_parse(value);
		return r < 0 ? -EINVAL : (*v = (uint32_t)r, 0);
	case K_STR:
	case K_LOCAL:
		break;
	}
	return -EINVAL;
}

static void store(struct config *cfg, const struct key *k, uint32_t v)
{
	char *p = (char *)cfg + k->off;

	if (k->type == K_BOOL)
		*(bool *)p = v;
	else if (k->type == K_PREFIX4 || k->type == K_PREFIX6)
		*(uint8_t *)p = (uint8_t)v;
	else if (k->type == K_HOOK)
		*(enum fw_hook *)p = (enum fw_hook)v;
	else
		*(uint32_t *)p = v;
}

/* "ADDR[/LEN], ..." (commas or blanks between) into the local prefixes;
 * "" for none. */
static int parse_local(struct detect_cfg *dc, const char *value, const char **why)
{
	char buf[1024], *tok, *save;
	struct detect_cfg tmp = *dc;

	if (strlen(value) >= sizeof(buf))
		return *why = "value too long", -EINVAL;
	memcpy(buf, value, strlen(value) + 1);
	tmp.nlocal = 0;
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (tmp.nlocal == DETECT_LOCAL_MAX)
			return *why = "at most 16 prefixes", -EINVAL;
		if (prefix_parse(tok, &tmp.local[tmp.nlocal]) < 0)
			return *why = "expected addresses or CIDRs, comma-separated", -EINVAL;
		addr_mask(&tmp.local[tmp.nlocal].addr, tmp.local[tmp.nlocal].len);
		tmp.nlocal++;
	}
	memcpy(dc->local, tmp.local, sizeof(dc->local));
	dc->nlocal = tmp.nlocal;
	return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, const char **why)
{
	static char range[96];
	uint32_t v;

	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct key *k = &config_keys[i];

		if (strcmp(k->name, key) != 0)
			continue;
		if (k->type == K_LOCAL)
			return parse_local(&cfg->detect, value, why);
		if (k->type == K_STR) {
			if (strlen(value) >= k->size)
				return *why = "value too long", -EINVAL;
			memcpy((char *)cfg + k->off, value, strlen(value) + 1);
			return 0;
		}
		if (parse_value(k, value, &v, why) < 0)
			return -EINVAL;
		if (k->type != K_BOOL && k->type != K_HOOK &&
		    !(k->type == K_WAIT && v == CONFIG_WAIT_AUTO) && (v < k->min || v > k->max)) {
			snprintf(range, sizeof(range), "out of range (%u to %u%s)", k->min, k->max,
				 k->type == K_MS || k->type == K_WAIT ? " ms" :
				 k->type == K_SEC ? " s" : "");
			return *why = range, -EINVAL;
		}
		store(cfg, k, v);
		return 0;
	}
	*why = "unknown key";
	return -ENOENT;
}

/* The first non-blank of s. */
static const char *trim_const(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Named sections. Each type is owned by a module, whose check reads every
 * entry of that type (all its sections) and returns 0, or -EINVAL with
 * "file:line: message" in err. A type not in this table is an error at
 * the section header, so a typo never passes silently.
 */
struct named_type {
	const char *type;
	int (*check)(const struct config *cfg, char *err, size_t errlen);
};

static const struct named_type named_types[] = {
	{ "feed", feeds_cfg_check },
	{ "notify", notify_cfg_check },
	/* One check reads the per-service sections of all three (and runs
	 * once: see named_check_seen). */
	{ "syn_flood", services_cfg_check },
	{ "udp_flood", services_cfg_check },
	{ "rate_flood", services_cfg_check },
	{ NULL, NULL },
};

/* True when row i's check is an earlier row's too: it reads all its
 * types at once, so it runs once. */
static bool named_check_seen(size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (named_types[j].check == named_types[i].check)
			return true;
	return false;
}

static const struct named_type *named_type_find(const char *type)
{
	for (size_t i = 0; named_types[i].type; i++)
		if (strcmp(named_types[i].type, type) == 0)
			return &named_types[i];
	return NULL;
}

const char *config_named_get(const struct config *cfg, const char *type, const char *name,
			     const char *key)
{
	const char *v = NULL;

	/* The last of repeated lines wins, as for top-level keys. */
	for (uint32_t i = 0; i < cfg->nnamed; i++) {
		const struct config_entry *c = &cfg->named[i];

		if (!strcmp(c->type, type) && !strcmp(c->name, name) && !strcmp(c->key, key))
			v = c->value;
	}
	return v;
}

bool config_named_first(const struct config *cfg, uint32_t i)
{
	const struct config_entry *c = &cfg->named[i];

	for (uint32_t j = 0; j < i; j++)
		if (!strcmp(cfg->named[j].type, c->type) && !strcmp(cfg->named[j].name, c->name))
			return false;
	return true;
}

/* "[type name]": checks the type and the name's length. */
static int named_header(const char *header, const char **why)
{
	char type[sizeof(((struct config_entry *)0)->type)];
	const char *sp = strchr(header, ' ');
	size_t tl = (size_t)(sp - header);

	if (tl >= sizeof(type))
		return *why = "unknown section type", -EINVAL;
	memcpy(type, header, tl);
	type[tl] = '\0';
	if (!named_type_find(type))
		return *why = "unknown section type", -EINVAL;
	if (strlen(trim_const(sp)) >= sizeof(((struct config_entry *)0)->name))
		return *why = "section name too long", -EINVAL;
	return 0;
}

/* Keeps key = value of section "type name" in cfg->named. */
static int named_line(struct config *cfg, const char *section, const char *key,
		      const char *value, uint32_t lineno, const char **why)
{
	struct config_entry *c;
	const char *sp = strchr(section, ' ');

	if (cfg->nnamed == CONFIG_NAMED_MAX)
		return *why = "too many lines in named sections", -EINVAL;
	c = &cfg->named[cfg->nnamed];
	memset(c, 0, sizeof(*c));
	if (strlen(key) >= sizeof(c->key))
		return *why = "key too long", -EINVAL;
	if (strlen(value) >= sizeof(c->value))
		return *why = "value too long", -EINVAL;
	snprintf(c->type, sizeof(c->type), "%.*s", (int)(sp - section), section);
	snprintf(c->name, sizeof(c->name), "%s", trim_const(sp));
	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->value, sizeof(c->value), "%s", value);
	c->line = lineno;
	cfg->nnamed++;
	return 0;
}

/* Handles one line; section is the current "[name]" ("" at top level). */
static int config_line(struct config *cfg, char *line, char *section, size_t seclen,
		       uint32_t lineno, const char **why)
{
	char key[128], *eq, *s = trim(line);

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != '\0' || close == s + 1 || (size_t)(close - s) >= seclen)
			return *why = "bad section header", -EINVAL;
		*close = '\0';
		snprintf(section, seclen, "%s", trim(s + 1));
		/* Blanks inside make it "[type name]"; squeeze them to one. */
		for (char *b = section; (b = strpbrk(b, " \t")); ) {
			*b++ = ' ';
			memmove(b, trim_const(b), strlen(trim_const(b)) + 1);
		}
		return strchr(section, ' ') ? named_header(section, why) : 0;
	}
	if (!(eq = strchr(s, '=')))
		return *why = "expected key = value", -EINVAL;
	*eq = '\0';
	s = trim(s);
	/* A trailing "# comment" after the value is allowed. */
	char *val = eq + 1, *hash = strchr(val, '#');
	if (hash)
		*hash = '\0';
	val = trim(val);
	if (*s == '\0')
		return *why = "missing key", -EINVAL;
	if (strchr(section, ' '))
		return named_line(cfg, section, s, val, lineno, why);
	if (snprintf(key, sizeof(key), "%s%s%s", section, *section ? "." : "", s) >= (int)sizeof(key))
		return *why = "key too long", -EINVAL;
	return config_set(cfg, key, val, why);
}

/* Reads "key = value" lines from f, naming them path in errors. */
static int config_read(struct config *cfg, FILE *f, const char *path, char *err,
		       size_t errlen)
{
	char line[4352], section[96] = "";
	const char *why = NULL;
	unsigned lineno = 0;
	int r = 0;

	snprintf(cfg->file, sizeof(cfg->file), "%s", path);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			why = "line too long";
			r = -EINVAL;
		} else {
			r = config_line(cfg, line, section, sizeof(section), lineno, &why);
		}
		if (r < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			return -EINVAL;
		}
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	r = config_read(cfg, f, path, err, errlen);
	fclose(f);
	return r;
}

/* The text of a configuration, read as if it were the file path. */
static int config_load_text(struct config *cfg, const char *path, const char *text,
			    char *err, size_t errlen)
{
	FILE *f;
	int r;

	if (!*text) {
		snprintf(cfg->file, sizeof(cfg->file), "%s", path);
		return 0;
	}
	if (!(f = fmemopen((void *)text, strlen(text), "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	r = config_read(cfg, f, path, err, errlen);
	fclose(f);
	return r;
}

/* [upstream]: the action and the address parse; RTBH is refused. */
static int upstream_check(const struct config *cfg, char *err, size_t errlen)
{
	char host[128], port[8];
	uint64_t bps;

	if (cfg->upstream_rtbh) {
		snprintf(err, errlen, "upstream.rtbh: announcing the attacked address itself "
			 "(RTBH) is not implemented; it would complete the attack: set it to no");
		return -EINVAL;
	}
	if (bgp_parse_action(cfg->upstream_action, &bps) < 0) {
		snprintf(err, errlen, "upstream.action: expected discard or rate-limit BYTES, "
			 "not \"%s\"", cfg->upstream_action);
		return -EINVAL;
	}
	if (bgp_parse_api(cfg->upstream_api, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "upstream.api: expected host:port, not \"%s\"",
			 cfg->upstream_api);
		return -EINVAL;
	}
	return 0;
}

int config_check(const struct config *cfg, char *err, size_t errlen)
{
	const char *why;

	if (detect_cfg_check(&cfg->detect, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (cfg->mitigate.ban_max_s < cfg->mitigate.ban_s) {
		snprintf(err, errlen, "ban_max (%us) is shorter than ban (%us)",
			 cfg->mitigate.ban_max_s, cfg->mitigate.ban_s);
		return -EINVAL;
	}
	if (cfg->mitigate.max_bans > cfg->set_size) {
		snprintf(err, errlen, "max_bans (%u) exceeds set_size (%u)",
			 cfg->mitigate.max_bans, cfg->set_size);
		return -EINVAL;
	}
	if (http_cfg_check(cfg, err, errlen) < 0 || upstream_check(cfg, err, errlen) < 0)
		return -EINVAL;
	for (size_t i = 0; named_types[i].type; i++)
		if (!named_check_seen(i) && named_types[i].check(cfg, err, errlen) < 0)
			return -EINVAL;
	return 0;
}

int config_build(struct config *cfg, const struct config_source *src, char *err,
		 size_t errlen)
{
	struct config *next = malloc(sizeof(*next));
	const char *why;
	int r = 0;

	if (!next) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	config_defaults(next);
	if (src->text)
		r = config_load_text(next, src->path, src->text, err, errlen);
	else if (src->must_exist || access(src->path, F_OK) == 0)
		r = config_load(next, src->path, err, errlen);
	if (r < 0)
		goto out;
	for (int i = 0; i < src->nset; i++) {
		const struct config_setting *s = &src->set[i];

		if ((r = config_set(next, s->key, s->value, &why)) < 0) {
			snprintf(err, errlen, "%s %s: %s", s->opt, s->value, why);
			r = -EINVAL;
			goto out;
		}
	}
	if ((r = config_check(next, err, errlen)) < 0 ||
	    (r = services_cfg_apply(next, err, errlen)) < 0)
		goto out;
	memcpy(cfg, next, sizeof(*cfg));
out:
	free(next);
	return r;
}

const char *config_key_name(size_t i)
{
	return i < sizeof(config_keys) / sizeof(config_keys[0]) ? config_keys[i].name : NULL;
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static size_t key_size(const struct key *k)
{
	switch (k->type) {
	case K_STR: return k->size;
	case K_BOOL: return sizeof(bool);
	case K_PREFIX4: case K_PREFIX6: return sizeof(uint8_t);
	case K_HOOK: return sizeof(enum fw_hook);
	default: return sizeof(uint32_t);
	}
}

void config_keep_restart(struct config *next, const struct config *cur, char *changed,
			 size_t len)
{
	/* Each is fixed by something opened once: the capture handle, the
	 * nftables table and chain, the control socket, the dropped
	 * privileges, the log, the history database. */
	static const char *const restart_keys[] = {
		"interface", "buffer_kb", "snaplen", "table", "hook", "set_size",
		"control_socket", "control_group", "user", "syslog", "workers", "capture_wait",
		"state_dir", "reputation.abuseipdb_key_file", "reputation.abuseipdb_url",
		"reputation.abuseipdb_cainfo", "reputation.abuseipdb_daily_limit",
		"reputation.abuseipdb_report", "history", "http_listen", "http_tokens",
		"http_max_clients", "http_timeout", "crowdsec.url",
		"crowdsec.credentials", "crowdsec.api_key_file", "crowdsec.queue",
		"crowdsec.poll", "crowdsec.queue_max", "upstream.speaker", "upstream.api",
		"upstream.pps", "upstream.max", "upstream.action",
	};
	size_t n = 0;

	*changed = '\0';
	for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++) {
		const struct key *k = key_find(restart_keys[i]);
		char *to = (char *)next + k->off;
		const char *from = (const char *)cur + k->off;

		if (k->type == K_STR ? strcmp(to, from) == 0 : memcmp(to, from, key_size(k)) == 0)
			continue;
		memcpy(to, from, key_size(k));
		if (n < len)
			n += (size_t)snprintf(changed + n, len - n, "%s%s", n ? ", " : "", k->name);
	}
}
