/* feeds_cfg.c - the [feed NAME] sections: their keys checked for
 * config_check (and so for dosips -n and reload), and the value parsers
 * feeds.c reads them with. Apart from feeds.c so that whatever links
 * config.c (dosipsctl) does not pull in the download and netlink code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds.h"

static const char *const feed_formats[FEED__MAX] = {
	[FEED_NETSET] = "netset", [FEED_DROP] = "drop", [FEED_PLAIN] = "plain",
	[FEED_JSON] = "json",
};

int feed_format_parse(const char *s)
{
	for (int i = 0; i < FEED__MAX; i++)
		if (strcmp(s, feed_formats[i]) == 0)
			return i;
	return -1;
}

static const char *const feed_keys[] = {
	"url", "file", "format", "refresh", "action", "max_bytes", "max_entries",
	"max_shrink", "cainfo", "headers_file",
};

static bool feed_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 40)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

int feed_parse_size(const char *s, size_t *v)
{
	char *end;
	unsigned long long n;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n == 0 || n > (1ull << 40))
		return -EINVAL;
	*v = (size_t)n;
	return 0;
}

int feed_parse_fraction(const char *s, double *v)
{
	char *end;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -EINVAL;
	*v = strtod(s, &end);
	return *end || *v < 0 || *v > 1 ? -EINVAL : 0;
}

/* Checks one key = value of a feed; why says what is wrong. */
static int feed_check_kv(const char *key, const char *val, const char **why)
{
	uint64_t ms;
	size_t sz;
	double fr;
	size_t i;

	for (i = 0; i < sizeof(feed_keys) / sizeof(feed_keys[0]); i++)
		if (strcmp(key, feed_keys[i]) == 0)
			break;
	if (i == sizeof(feed_keys) / sizeof(feed_keys[0]))
		return *why = "unknown key in a feed section", -EINVAL;
	if (!strcmp(key, "url") && strncmp(val, "https://", 8) && strncmp(val, "http://", 7))
		return *why = "url must start with https:// or http://", -EINVAL;
	if (!strcmp(key, "format") && feed_format_parse(val) < 0)
		return *why = "format must be netset, drop, plain or json", -EINVAL;
	if (!strcmp(key, "refresh") && (config_parse_duration_ms(val, &ms) < 0 || ms < 1000))
		return *why = "refresh must be a duration of 1s or more", -EINVAL;
	if (!strcmp(key, "action") && strcmp(val, "drop") && strcmp(val, "alert"))
		return *why = "action must be drop or alert", -EINVAL;
	if ((!strcmp(key, "max_bytes") || !strcmp(key, "max_entries")) && feed_parse_size(val, &sz) < 0)
		return *why = "expected a positive whole number", -EINVAL;
	if (!strcmp(key, "max_shrink") && feed_parse_fraction(val, &fr) < 0)
		return *why = "max_shrink must be a fraction from 0 to 1", -EINVAL;
	return 0;
}

/* Whole sections: a name we can use in set names, exactly one source. */
static int feed_check_section(const struct config *cfg, const struct config_entry *c,
			      char *err, size_t errlen)
{
	bool url = config_named_get(cfg, "feed", c->name, "url");
	bool file = config_named_get(cfg, "feed", c->name, "file");

	if (!feed_name_ok(c->name)) {
		snprintf(err, errlen, "%s:%u: feed name \"%s\": use up to 40 letters, digits, "
			 "'_' or '-'", cfg->file, c->line, c->name);
		return -EINVAL;
	}
	if (url == file) {
		snprintf(err, errlen, "%s:%u: feed %s needs exactly one of url and file",
			 cfg->file, c->line, c->name);
		return -EINVAL;
	}
	return 0;
}

int feeds_cfg_check(const struct config *cfg, char *err, size_t errlen)
{
	const char *why;
	size_t names = 0;

	for (uint32_t i = 0; i < cfg->nnamed; i++) {
		const struct config_entry *c = &cfg->named[i];
		bool first;

		if (strcmp(c->type, "feed"))
			continue;
		if (feed_check_kv(c->key, c->value, &why) < 0) {
			snprintf(err, errlen, "%s:%u: %s", cfg->file, c->line, why);
			return -EINVAL;
		}
		first = config_named_first(cfg, i);
		if (first && feed_check_section(cfg, c, err, errlen) < 0)
			return -EINVAL;
		if (first && ++names > FEEDS_MAX) {
			snprintf(err, errlen, "%s:%u: more than %d feeds", cfg->file, c->line, FEEDS_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

/* The i-th entry of type feed in cfg, from *at on; NULL past the last. */
static const struct config_entry *feed_entry(const struct config *cfg, uint32_t *at)
{
	for (; *at < cfg->nnamed; (*at)++)
		if (!strcmp(cfg->named[*at].type, "feed"))
			return &cfg->named[(*at)++];
	return NULL;
}

bool feeds_cfg_changed(const struct config *a, const struct config *b)
{
	uint32_t i = 0, j = 0;
	const struct config_entry *x, *y;

	do {
		x = feed_entry(a, &i);
		y = feed_entry(b, &j);
		if (!x != !y || (x && (strcmp(x->name, y->name) || strcmp(x->key, y->key) ||
				       strcmp(x->value, y->value))))
			return true;
	} while (x);
	return false;
}
