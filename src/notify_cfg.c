/* notify_cfg.c - [notify NAME] sections: each key read, checked and
 * reported as "file:line: message"; url_file and to_file read here, so a
 * missing or malformed secret fails `dosips -n` and a reload like any
 * other bad value. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "notify_cfg.h"


static const char *const type_names[NOTIFY__MAX] = {
	[NOTIFY_SLACK] = "slack", [NOTIFY_DISCORD] = "discord",
	[NOTIFY_MATTERMOST] = "mattermost", [NOTIFY_TEAMS] = "teams",
	[NOTIFY_WEBHOOK] = "webhook", [NOTIFY_MAIL] = "mail",
};

static const char *const sev_names[SEV__MAX] = { "info", "notice", "warning", "critical" };

const char *notify_type_name(enum notify_type t)
{
	return (unsigned)t < NOTIFY__MAX ? type_names[t] : NULL;
}

int notify_type_parse(const char *s)
{
	for (int i = 0; i < NOTIFY__MAX; i++)
		if (strcmp(type_names[i], s) == 0)
			return i;
	return -1;
}

const char *notify_sev_name(enum notify_sev s)
{
	return (unsigned)s < SEV__MAX ? sev_names[s] : "info";
}

int notify_sev_parse(const char *s)
{
	for (int i = 0; i < SEV__MAX; i++)
		if (strcmp(sev_names[i], s) == 0)
			return i;
	return -1;
}

/* ---- settings --------------------------------------------------------------- */

/* The first line of path that is neither blank nor a comment, trimmed. */
static int first_line(const char *path, char *out, size_t len, const char **why)
{
	char line[NOTIFY_URL_MAX + 2], *s, *e;
	FILE *f = fopen(path, "re");
	int r = -ENOENT;

	if (!f)
		return *why = strerror(errno), -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = '\0';
		if (!*s || *s == '#')
			continue;
		if ((size_t)(e - s) >= len)
			*why = "line too long", r = -EINVAL;
		else
			snprintf(out, len, "%s", s), r = 0;
	}
	fclose(f);
	if (r == -ENOENT)
		*why = "holds no line";
	return r;
}

static bool addr_ok(const char *s)
{
	return strchr(s, '@') && !strpbrk(s, "\r\n<>\"");
}

/* "ban, ddos" into bits: event types, and alert kinds. */
static int parse_events(struct notify_cfg *c, const char *v, uint64_t *types, uint64_t *alerts,
			bool kinds_only, const char **why)
{
	char buf[512], *save, *w;

	*types = *alerts = 0;
	snprintf(buf, sizeof(buf), "%s", v);
	for (w = strtok_r(buf, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
		int t, k;

		for (t = 0; !kinds_only && t < 64; t++)
			if (!strcmp(event_type_name(t), w))
				break;
		for (k = 0; k < KIND__ALL; k++)
			if (!strcmp(detect_kind_name(k), w))
				break;
		if (!kinds_only && t < 64)
			*types |= 1ull << t;
		else if (k < KIND__ALL)
			*alerts |= 1ull << k;
		else
			return *why = kinds_only ? "unknown kind" : "unknown event or kind", -EINVAL;
	}
	return 0;
}

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max || *v == '-')
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int parse_ms(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t ms;

	if (config_parse_duration_ms(v, &ms) < 0 || ms < min || ms > max)
		return -EINVAL;
	*out = (uint32_t)ms;
	return 0;
}

/* Applies one "key = value" of the section; why says what is wrong. */
static int nconf_key(struct notify_cfg *c, const char *k, const char *v, char *why, size_t len)
{
	const char *w = NULL;
	uint64_t unused;

	if (!strcmp(k, "type")) {
		if ((c->type = notify_type_parse(v)) < 0)
			w = "type: expected slack, discord, mattermost, teams, webhook or mail";
	} else if (!strcmp(k, "url_file")) {
		if (first_line(v, c->url, sizeof(c->url), &w) == 0 &&
		    strncmp(c->url, "https://", 8) && strncmp(c->url, "http://", 7))
			w = "does not hold an http:// or https:// URL";
		if (w)
			return snprintf(why, len, "url_file %s: %s", v, w), -EINVAL;
	} else if (!strcmp(k, "to_file")) {
		if (first_line(v, c->to, sizeof(c->to), &w) < 0)
			return snprintf(why, len, "to_file %s: %s", v, w), -EINVAL;
		w = addr_ok(c->to) ? NULL : "to_file: expected mail addresses (name@domain)";
	} else if (!strcmp(k, "to")) {
		snprintf(c->to, sizeof(c->to), "%s", v);
		w = addr_ok(v) ? NULL : "to: expected mail addresses (name@domain, comma-separated)";
	} else if (!strcmp(k, "from")) {
		snprintf(c->from, sizeof(c->from), "%s", v);
		w = addr_ok(v) ? NULL : "from: expected a mail address (name@domain)";
	} else if (!strcmp(k, "sendmail")) {
		snprintf(c->sendmail, sizeof(c->sendmail), "%s", v);
		w = *v == '/' ? NULL : "sendmail: expected an absolute path and arguments";
	} else if (!strcmp(k, "cainfo")) {
		snprintf(c->cainfo, sizeof(c->cainfo), "%s", v);
	} else if (!strcmp(k, "events")) {
		if (parse_events(c, v, &c->types, &c->alert_kinds, false, &w) == 0 &&
		    !c->types && !c->alert_kinds)
			w = "events: name at least one event or kind";
	} else if (!strcmp(k, "kinds")) {
		if (parse_events(c, v, &unused, &c->kinds, true, &w) == 0 && !c->kinds)
			w = "kinds: name at least one kind";
	} else if (!strcmp(k, "severity")) {
		int s = notify_sev_parse(v);

		c->sev = s < 0 ? SEV_INFO : (enum notify_sev)s;
		w = s < 0 ? "severity: expected info, notice, warning or critical" : NULL;
	} else if (!strcmp(k, "rate")) {
		w = parse_u32(v, 1, NOTIFY_RATE_MAX, &c->rate) ?
		    "rate: expected 1 to 60 messages a minute" : NULL;
	} else if (!strcmp(k, "digest")) {
		w = parse_ms(v, 1000, 3600000, &c->digest_ms) ? "digest: expected 1s to 1h" : NULL;
	} else if (!strcmp(k, "timeout")) {
		w = parse_ms(v, 100, 300000, &c->timeout_ms) ? "timeout: expected 100ms to 5m" : NULL;
	} else if (!strcmp(k, "retries")) {
		w = parse_u32(v, 0, 10, &c->retries) ? "retries: expected 0 to 10" : NULL;
	} else if (!strcmp(k, "queue")) {
		w = parse_u32(v, 1, 1000, &c->queue) ? "queue: expected 1 to 1000" : NULL;
	} else {
		w = "unknown key in a [notify] section";
	}
	if (w)
		snprintf(why, len, "%s", w);
	return w ? -EINVAL : 0;
}

static void nconf_defaults(struct notify_cfg *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->type = -1;
	c->types = 1ull << EVT_BAN | 1ull << EVT_BAN_CAP;
	for (int t = 0; t < 64; t++)     /* and ban_failed, where there is one */
		if (!strcmp(event_type_name(t), "ban_failed"))
			c->types |= 1ull << t;
	c->alert_kinds = 1ull << KIND_DDOS;
	c->kinds = ~0ull;
	c->rate = 10;
	c->digest_ms = 60000;
	c->timeout_ms = 10000;
	c->retries = 3;
	c->queue = 32;
	snprintf(c->sendmail, sizeof(c->sendmail), "/usr/sbin/sendmail");
}

/* What the section as a whole needs, once every line is read. */
static const char *nconf_whole(const struct notify_cfg *c)
{
	char prog[512];

	if (c->type < 0)
		return "needs a type";
	if (c->type == NOTIFY_MAIL && !*c->to)
		return "type mail needs to = or to_file =";
	if (c->type != NOTIFY_MAIL && !*c->url)
		return "needs url_file = (a file holding the webhook URL)";
	if (c->type == NOTIFY_MAIL && sscanf(c->sendmail, "%511s", prog) == 1 &&
	    access(prog, X_OK) < 0)
		return "sendmail cannot be run (install exim4, postfix or msmtp-mta, "
		       "or set sendmail =)";
	return NULL;
}

/* Reads section [notify name] of cfg into c; err as "file:line: ...". */
static int nconf_parse(const struct config *cfg, const char *name, struct notify_cfg *c,
		       char *err, size_t errlen)
{
	char why[CONFIG_PATH_MAX + 64];
	const struct config_entry *last = NULL;
	const char *w;

	nconf_defaults(c, name);
	for (uint32_t i = 0; i < cfg->nnamed; i++) {
		const struct config_entry *e = &cfg->named[i];

		if (strcmp(e->type, "notify") || strcmp(e->name, name))
			continue;
		last = e;
		if (nconf_key(c, e->key, e->value, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", cfg->file, e->line, why);
			return -EINVAL;
		}
	}
	if (last && (w = nconf_whole(c))) {
		snprintf(err, errlen, "%s:%u: [notify %s] %s", cfg->file, last->line, name, w);
		return -EINVAL;
	}
	return 0;
}

/* Calls fn for each distinct section name of type notify, in order. */
static int foreach_name(const struct config *cfg, int (*fn)(const char *name, void *ctx),
			void *ctx)
{
	int r;

	for (uint32_t i = 0; i < cfg->nnamed; i++) {
		const struct config_entry *e = &cfg->named[i];
		uint32_t j;

		if (strcmp(e->type, "notify"))
			continue;
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->named[j].type, "notify") && !strcmp(cfg->named[j].name, e->name))
				break;
		if (j == i && (r = fn(e->name, ctx)) < 0)
			return r;
	}
	return 0;
}

struct check_ctx {
	const struct config *cfg;
	char *err;
	size_t errlen;
};

static int check_one(const char *name, void *ctx)
{
	struct check_ctx *k = ctx;
	struct notify_cfg *c = malloc(sizeof(*c));
	int r;

	if (!c)
		return snprintf(k->err, k->errlen, "out of memory"), -ENOMEM;
	r = nconf_parse(k->cfg, name, c, k->err, k->errlen);
	free(c);
	return r;
}

int notify_cfg_check(const struct config *cfg, char *err, size_t errlen)
{
	struct check_ctx k = { cfg, err, errlen };

	return foreach_name(cfg, check_one, &k) < 0 ? -EINVAL : 0;
}

struct parse_ctx {
	const struct config *cfg;
	struct notify_cfg *v;
	size_t n;
	char *err;
	size_t errlen;
};

static int parse_one(const char *name, void *ctx)
{
	struct parse_ctx *k = ctx;
	struct notify_cfg *v = realloc(k->v, (k->n + 1) * sizeof(*v));

	if (!v)
		return snprintf(k->err, k->errlen, "out of memory"), -ENOMEM;
	k->v = v;
	return nconf_parse(k->cfg, name, &v[k->n++], k->err, k->errlen);
}

int notify_cfg_parse(const struct config *cfg, struct notify_cfg **out, size_t *n, char *err,
		     size_t errlen)
{
	struct parse_ctx k = { cfg, NULL, 0, err, errlen };
	int r = foreach_name(cfg, parse_one, &k);

	if (r < 0) {
		free(k.v);
		return r;
	}
	*out = k.v;
	*n = k.n;
	return 0;
}
