/* services_cfg.c - the [syn_flood|udp_flood|rate_flood SERVICE] sections.
 *
 * A section gives one service a detector's bar of its own:
 *
 *     [udp_flood port=53]      threshold = 2000
 *     [syn_flood port=443]     window = 1s
 *     [rate_flood proto=gre]   enabled = no
 *
 * Keys it does not set are the detector's, as the file and the command
 * line left them. Its lines are read here twice: by the check (into a copy)
 * and by config_build (into the configuration), so that dosips -n, a
 * reload and a start agree on what is accepted. The values go through
 * config_set as "<detector>.<key>", with the limits and words of the
 * detector's own keys.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services_cfg.h"

static const char *const svc_keys[] = { "enabled", "threshold", "window" };

static const struct { const char *name; uint8_t proto; } svc_protos[] = {
	{ "icmp", IPPROTO_ICMP }, { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
	{ "gre", IPPROTO_GRE }, { "esp", IPPROTO_ESP }, { "ah", IPPROTO_AH },
	{ "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP },
};

static bool is_service_type(const char *type)
{
	return !strcmp(type, "syn_flood") || !strcmp(type, "udp_flood") ||
	       !strcmp(type, "rate_flood");
}

/* A number 1..max, all of s; 0 when not. */
static unsigned svc_number(const char *s, unsigned max)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v > max ? 0 : (unsigned)v;
}

/* "port=N" or "proto=NAME|N" into sv (its kind already set). */
static int svc_name(const char *name, struct detect_service *sv, const char **why)
{
	if (!strncmp(name, "port=", 5)) {
		if (!(sv->port = (uint16_t)svc_number(name + 5, 65535)))
			return *why = "port must be 1 to 65535", -EINVAL;
		sv->proto = sv->kind == KIND_SYN_FLOOD ? IPPROTO_TCP :
			    sv->kind == KIND_UDP_FLOOD ? IPPROTO_UDP : 0;
		return 0;
	}
	if (!strncmp(name, "proto=", 6) && sv->kind == KIND_RATE_FLOOD) {
		for (size_t i = 0; i < sizeof(svc_protos) / sizeof(svc_protos[0]); i++)
			if (!strcmp(name + 6, svc_protos[i].name))
				sv->proto = svc_protos[i].proto;
		if (!sv->proto && !(sv->proto = (uint8_t)svc_number(name + 6, 255)))
			return *why = "unknown protocol", -EINVAL;
		return 0;
	}
	return *why = sv->kind == KIND_RATE_FLOOD ?
		"a service is port=N or proto=NAME" : "a service is port=N", -EINVAL;
}

/* One line of the section of sv: through config_set on scratch, whose
 * detector settings are sv's for the while. */
static int svc_line(struct config *scratch, struct detect_service *sv,
		    const struct config_entry *c, const char **why)
{
	char key[64];
	size_t i;
	int r;

	for (i = 0; i < sizeof(svc_keys) / sizeof(svc_keys[0]); i++)
		if (!strcmp(c->key, svc_keys[i]))
			break;
	if (i == sizeof(svc_keys) / sizeof(svc_keys[0]))
		return *why = "unknown key (enabled, threshold or window)", -EINVAL;
	snprintf(key, sizeof(key), "%s.%s", c->type, c->key);
	scratch->detect.det[sv->kind] = sv->det;
	if ((r = config_set(scratch, key, c->value, why)) < 0)
		return r;
	sv->det = scratch->detect.det[sv->kind];
	return 0;
}

/* The section that entry i opens, into sv; checked as detect would. */
static int svc_section(const struct config *cfg, struct config *scratch, uint32_t i,
		       struct detect_service *sv, const char **why)
{
	const struct config_entry *c = &cfg->named[i];
	int r;

	memset(sv, 0, sizeof(*sv));
	sv->kind = (uint8_t)detect_kind_parse(c->type);
	sv->det = cfg->detect.det[sv->kind];
	if ((r = svc_name(c->name, sv, why)) < 0)
		return r;
	for (uint32_t j = i; j < cfg->nnamed; j++) {
		const struct config_entry *e = &cfg->named[j];

		if (!strcmp(e->type, c->type) && !strcmp(e->name, c->name) &&
		    (r = svc_line(scratch, sv, e, why)) < 0)
			return r;
	}
	return 0;
}

/* Every section of cfg into dc->svc; the line of a fault in *line. */
static int svc_parse(const struct config *cfg, struct detect_cfg *dc, uint32_t *line,
		     const char **why)
{
	struct config *scratch;
	uint32_t i;
	int r = 0;

	dc->nsvc = 0;
	memset(dc->svc, 0, sizeof(dc->svc));
	for (i = 0; i < cfg->nnamed && !is_service_type(cfg->named[i].type); i++)
		;
	if (i == cfg->nnamed)
		return 0;
	/* Only its detector settings are used, and svc_line sets them. */
	if (!(scratch = calloc(1, sizeof(*scratch))))
		return *why = "out of memory", -ENOMEM;
	for (; i < cfg->nnamed && r == 0; i++) {
		const struct config_entry *c = &cfg->named[i];
		struct detect_service sv;

		if (!is_service_type(c->type) || !config_named_first(cfg, i))
			continue;
		*line = c->line;
		if (dc->nsvc == DETECT_MAX_SERVICES) {
			*why = "more than 8 per-service sections";
			r = -EINVAL;
		} else if ((r = svc_section(cfg, scratch, i, &sv, why)) == 0) {
			dc->svc[dc->nsvc++] = sv;
			r = detect_cfg_check(dc, why);
		}
	}
	free(scratch);
	return r;
}

static int svc_fill(const struct config *cfg, struct detect_cfg *dc, char *err, size_t errlen)
{
	const char *why = NULL;
	uint32_t line = 0;
	int r = svc_parse(cfg, dc, &line, &why);

	if (r < 0)
		snprintf(err, errlen, "%s:%u: %s", cfg->file, line, why);
	return r;
}

int services_cfg_check(const struct config *cfg, char *err, size_t errlen)
{
	struct detect_cfg dc = cfg->detect;

	return svc_fill(cfg, &dc, err, errlen);
}

int services_cfg_apply(struct config *cfg, char *err, size_t errlen)
{
	struct detect_cfg dc = cfg->detect;
	int r = svc_fill(cfg, &dc, err, errlen);

	if (r == 0)
		cfg->detect = dc;
	return r;
}
