/* abuseipdb.c - each alert's source looked up in AbuseIPDB, off the
 * packet path and never in the way of a ban.
 *
 * A bus subscriber: an alert starts an asynchronous GET of the check
 * endpoint (api/v2/check?ipAddress=...&verbose, "Key" header) through the
 * shared web client; the ban has long gone to the kernel when the answer
 * comes, and a follow-up "enrich" event carries the abuse confidence score,
 * country, report categories and report count. Answers are cached for
 * 24 h, in memory and across restarts in state_dir/abuseipdb.cache (with
 * the day's request count), so a second alert from the same source costs
 * nothing (its enrich event comes from the cache, "cached":true). Private,
 * loopback, link-local, documentation, benchmarking, multicast and other
 * reserved addresses are never sent. The daily quota is counted per UTC
 * day and also taken from the service's X-RateLimit-Remaining and 429
 * answers; once spent, checks stop until the next day, said once in the
 * log. The service being down costs one logged error per alert and
 * nothing else. Reporting bans (api/v2/report, category 4 "DDoS Attack"
 * for floods, 14 "Port Scan" for scans) is off unless asked for.
 *
 * Subscribers must not publish in turn, so an answer from the cache is
 * published from a zero-delay timer, after the alert's own publication.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "abuseipdb.h"
#include "log.h"
#include "webclient.h"

#define AB_CACHE 8192               /* slots, a power of two */
#define AB_PROBE 8
#define AB_TTL_S 86400.0
#define AB_PENDING 64               /* requests in flight at most */
#define AB_QUEUE 64                 /* cached answers waiting to be published */

struct ab_entry {
	struct ip_addr a;
	double at;                      /* 0: empty */
	int score;
	uint32_t reports;
	char country[4];
	char cats[96];                  /* a JSON array */
};

struct ab_pending {
	struct abuseipdb *ab;
	struct ip_addr a;
	int64_t id;                     /* 0: free */
	bool report;
};

struct abuseipdb {
	struct ev_loop *loop;
	struct webclient *web;
	struct events *bus;
	struct reputation_cfg cfg;
	char cache_path[CONFIG_PATH_MAX + 32];
	char key_hdr[160];
	uint32_t day;
	bool quota_said;
	struct ab_entry cache[AB_CACHE];
	struct ab_pending pend[AB_PENDING];
	struct ip_addr queue[AB_QUEUE];
	unsigned nqueue;
	ev_timer flush;
	struct abuseipdb_stats st;
};

/* ---- which addresses may leave ---- */

bool abuseipdb_reserved(const struct ip_addr *a)
{
	static const char *const nets[] = {
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24",
		"192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/3", "::/8", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
		"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	};
	static struct ip_prefix p[sizeof(nets) / sizeof(nets[0])];
	static bool ready;

	if (!ready) {
		for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
			prefix_parse(nets[i], &p[i]);
		ready = true;
	}
	/* Each family against its own ranges: ::/8 holds every IPv4-mapped one. */
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (addr_is_v4(&p[i].addr) == addr_is_v4(a) && prefix_contains(&p[i], a))
			return true;
	return false;
}

/* ---- the cache ---- */

static struct ab_entry *ab_find(const struct abuseipdb *ab, const struct ip_addr *a)
{
	uint32_t h = addr_hash(a, 0x5eed);

	for (uint32_t i = 0; i < AB_PROBE; i++) {
		const struct ab_entry *e = &ab->cache[(h + i) & (AB_CACHE - 1)];

		if (e->at > 0 && addr_eq(&e->a, a) && ev_now(ab->loop) - e->at < AB_TTL_S)
			return (struct ab_entry *)e;
	}
	return NULL;
}

/* The slot for a: its own, an empty or stale one, else the oldest. */
static struct ab_entry *ab_slot(struct abuseipdb *ab, const struct ip_addr *a)
{
	uint32_t h = addr_hash(a, 0x5eed);
	struct ab_entry *best = NULL;

	for (uint32_t i = 0; i < AB_PROBE; i++) {
		struct ab_entry *e = &ab->cache[(h + i) & (AB_CACHE - 1)];

		if (addr_eq(&e->a, a) || e->at == 0 || ev_now(ab->loop) - e->at >= AB_TTL_S)
			return e;
		if (!best || e->at < best->at)
			best = e;
	}
	return best;
}

int abuseipdb_score(const struct abuseipdb *ab, const struct ip_addr *a)
{
	const struct ab_entry *e = ab ? ab_find(ab, a) : NULL;

	return e ? e->score : -1;
}

/* ---- the enrich event ---- */

static void ab_publish(struct abuseipdb *ab, const struct ab_entry *e, bool cached)
{
	char detail[256];

	snprintf(detail, sizeof(detail), ",\"source\":\"abuseipdb\",\"abuse_score\":%d,"
		 "\"country\":%s%s%s,\"categories\":%s,\"reports\":%" PRIu32 ",\"cached\":%s",
		 e->score, *e->country ? "\"" : "", *e->country ? e->country : "null",
		 *e->country ? "\"" : "", e->cats, e->reports, cached ? "true" : "false");
	events_publish(ab->bus, &(struct event){
		.type = EVT_ENRICH, .ts_us = (uint64_t)(ev_now(ab->loop) * 1e6),
		.src = { .addr = e->a, .len = 128 }, .detail = detail,
	});
}

static void ab_on_flush(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct abuseipdb *ab = w->data;
	unsigned n = ab->nqueue;

	ab->nqueue = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct ab_entry *e = ab_find(ab, &ab->queue[i]);

		if (e)
			ab_publish(ab, e, true);
	}
}

/* ---- answers ---- */

/* The categories of every report, each once, as a JSON array. */
static void ab_categories(struct json_object *data, char *out, size_t len)
{
	struct json_object *reps, *cats;
	bool seen[64] = { false };
	size_t n = (size_t)snprintf(out, len, "[");

	if (json_object_object_get_ex(data, "reports", &reps) &&
	    json_object_is_type(reps, json_type_array))
		for (size_t i = 0; i < json_object_array_length(reps); i++)
			if (json_object_object_get_ex(json_object_array_get_idx(reps, i),
						      "categories", &cats) &&
			    json_object_is_type(cats, json_type_array))
				for (size_t j = 0; j < json_object_array_length(cats); j++) {
					int c = json_object_get_int(json_object_array_get_idx(cats, j));

					if (c > 0 && c < 64)
						seen[c] = true;
				}
	for (int c = 1; c < 64; c++)
		if (seen[c] && n + 4 < len)
			n += (size_t)snprintf(out + n, len - n, "%s%d", n > 1 ? "," : "", c);
	snprintf(out + n, len - n, "]");
}

/* The check endpoint's answer into the cache; 0 or -EPROTO. */
static int ab_parse_check(struct abuseipdb *ab, const struct ip_addr *a, const char *body,
			  size_t len, struct ab_entry **out)
{
	struct json_object *root = json_tokener_parse(body), *data, *v;
	struct ab_entry *e;
	int r = -EPROTO;

	if (!root || !json_object_object_get_ex(root, "data", &data) ||
	    !json_object_object_get_ex(data, "abuseConfidenceScore", &v) ||
	    !json_object_is_type(v, json_type_int))
		goto out;
	e = ab_slot(ab, a);
	*e = (struct ab_entry){ .a = *a, .at = ev_now(ab->loop), .score = json_object_get_int(v) };
	if (json_object_object_get_ex(data, "countryCode", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(e->country, sizeof(e->country), "%.2s", json_object_get_string(v));
	if (json_object_object_get_ex(data, "totalReports", &v))
		e->reports = (uint32_t)json_object_get_int(v);
	ab_categories(data, e->cats, sizeof(e->cats));
	*out = e;
	r = 0;
out:
	json_object_put(root);
	return r;
}

/* The service says how much is left; none left stops checks for today. */
static void ab_quota_headers(struct abuseipdb *ab, const struct web_response *w)
{
	char buf[32];

	if (w->status == 429 || (web_response_header(w, "X-RateLimit-Remaining", buf,
						     sizeof(buf)) && strcmp(buf, "0") == 0))
		ab->st.used_today = ab->cfg.daily_limit;
}

static void ab_on_answer(const struct web_response *w, void *ctx)
{
	struct ab_pending *p = ctx;
	struct abuseipdb *ab = p->ab;
	struct ab_entry *e;
	char addr[ADDR_STRLEN];

	p->id = 0;
	ab_quota_headers(ab, w);
	addr_fmt(&p->a, addr);
	if (w->err || w->status != 200) {
		ab->st.errors++;
		log_warn("abuseipdb: %s %s: %s", p->report ? "report of" : "check of", addr,
			 w->err ? w->error : w->status == 429 ? "HTTP 429: daily quota spent" :
			 "unexpected HTTP status");
		return;
	}
	ab->st.answers++;
	if (p->report)
		return;
	if (ab_parse_check(ab, &p->a, w->body, w->len, &e) < 0) {
		ab->st.errors++;
		log_warn("abuseipdb: check of %s: an answer without data.abuseConfidenceScore", addr);
		return;
	}
	ab_publish(ab, e, false);
}

/* ---- asking ---- */

/* Counts one request against today's quota; false once it is spent. */
static bool ab_quota_take(struct abuseipdb *ab)
{
	uint32_t day = (uint32_t)(ev_now(ab->loop) / 86400);

	if (day != ab->day) {
		ab->day = day;
		ab->st.used_today = 0;
		ab->quota_said = false;
	}
	if (ab->st.used_today < ab->cfg.daily_limit) {
		ab->st.used_today++;
		return true;
	}
	ab->st.skipped_quota++;
	if (!ab->quota_said)
		log_warn("abuseipdb: daily quota of %u requests reached: no more until 00:00 UTC",
			 ab->cfg.daily_limit);
	ab->quota_said = true;
	return false;
}

static struct ab_pending *ab_pending(struct abuseipdb *ab, const struct ip_addr *a, bool *busy)
{
	struct ab_pending *free_slot = NULL;

	*busy = false;
	for (int i = 0; i < AB_PENDING; i++) {
		struct ab_pending *p = &ab->pend[i];

		if (p->id && addr_eq(&p->a, a) && !p->report)
			*busy = true;
		if (!p->id && !free_slot)
			free_slot = p;
	}
	return free_slot;
}

static void ab_send(struct abuseipdb *ab, struct ab_pending *p, const char *method,
		    const char *url, const char *body)
{
	const char *hdrs[] = { ab->key_hdr, "Accept: application/json",
			       body ? "Content-Type: application/x-www-form-urlencoded" : NULL,
			       NULL };
	struct web_request rq = {
		.method = method, .url = url, .headers = hdrs, .body = body,
		.body_len = body ? strlen(body) : 0, .timeout_ms = 10000, .max_bytes = 1 << 20,
		.cainfo = *ab->cfg.cainfo ? ab->cfg.cainfo : NULL,
	};
	int64_t id = webclient_request(ab->web, &rq, ab_on_answer, p);

	if (id < 0) {
		ab->st.errors++;
		log_warn("abuseipdb: cannot start a request: %s", strerror((int)-id));
		return;
	}
	ab->st.requests++;
	p->id = id;
}

static void ab_check(struct abuseipdb *ab, const struct ip_addr *a)
{
	char url[512], addr[ADDR_STRLEN];
	struct ab_pending *p;
	bool busy;

	if (abuseipdb_reserved(a)) {
		ab->st.skipped_reserved++;
		return;
	}
	if (ab_find(ab, a)) {
		ab->st.cache_hits++;
		if (ab->nqueue < AB_QUEUE)
			ab->queue[ab->nqueue++] = *a;
		ev_timer_start(ab->loop, &ab->flush);
		return;
	}
	if (!(p = ab_pending(ab, a, &busy)) || busy || !ab_quota_take(ab))
		return;
	snprintf(url, sizeof(url), "%s/check?ipAddress=%s&maxAgeInDays=90&verbose",
		 ab->cfg.url, addr_fmt(a, addr));
	*p = (struct ab_pending){ .ab = ab, .a = *a };
	ab_send(ab, p, "GET", url, NULL);
}

/* A ban, reported with the category that fits its kind. */
static void ab_report(struct abuseipdb *ab, const struct event *e)
{
	char url[512], body[256], addr[ADDR_STRLEN];
	struct ab_pending *p;
	bool busy;

	if (abuseipdb_reserved(&e->src.addr) || e->kind == KIND_MANUAL ||
	    !(p = ab_pending(ab, &e->src.addr, &busy)) || !ab_quota_take(ab))
		return;
	snprintf(url, sizeof(url), "%s/report", ab->cfg.url);
	snprintf(body, sizeof(body), "ip=%s&categories=%d&comment=dosips+%s",
		 addr_fmt(&e->src.addr, addr), e->kind == KIND_PORT_SCAN ? 14 : 4,
		 detect_kind_name(e->kind));
	*p = (struct ab_pending){ .ab = ab, .a = e->src.addr, .report = true };
	ab->st.reports++;
	ab_send(ab, p, "POST", url, body);
}

void abuseipdb_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct abuseipdb *ab = ctx;

	if (!e->src.len)
		return;
	if (e->type == EVT_ALERT)
		ab_check(ab, &e->src.addr);
	else if (e->type == EVT_BAN && ab->cfg.report)
		ab_report(ab, e);
}

/* ---- the cache on disk: "quota DAY USED", then "ADDR AT SCORE REPORTS
 * COUNTRY CATS" per fresh entry ("-" for no country) ---- */

static void ab_load(struct abuseipdb *ab)
{
	FILE *f = fopen(ab->cache_path, "re");
	char line[256], addr[ADDR_STRLEN], country[8], cats[96];
	struct ab_entry e;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "quota %" SCNu32 " %" SCNu32, &ab->day, &ab->st.used_today) == 2)
			continue;
		memset(&e, 0, sizeof(e));
		if (sscanf(line, "%51s %lf %d %" SCNu32 " %7s %95s", addr, &e.at, &e.score,
			   &e.reports, country, cats) != 6 || addr_parse(addr, &e.a) < 0 ||
		    ev_now(ab->loop) - e.at >= AB_TTL_S || e.at > ev_now(ab->loop))
			continue;
		snprintf(e.country, sizeof(e.country), "%.2s", strcmp(country, "-") ? country : "");
		snprintf(e.cats, sizeof(e.cats), "%s", cats);
		*ab_slot(ab, &e.a) = e;
	}
	fclose(f);
}

static void ab_save(const struct abuseipdb *ab)
{
	char tmp[sizeof(ab->cache_path) + 8], addr[ADDR_STRLEN];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", ab->cache_path);
	if (!(f = fopen(tmp, "we")))
		return;
	fprintf(f, "quota %" PRIu32 " %" PRIu32 "\n", ab->day, ab->st.used_today);
	for (int i = 0; i < AB_CACHE; i++) {
		const struct ab_entry *e = &ab->cache[i];

		if (e->at > 0 && ev_now(ab->loop) - e->at < AB_TTL_S)
			fprintf(f, "%s %.3f %d %" PRIu32 " %s %s\n", addr_fmt(&e->a, addr), e->at,
				e->score, e->reports, *e->country ? e->country : "-", e->cats);
	}
	if (fclose(f) != 0 || rename(tmp, ab->cache_path) < 0) {
		log_warn("abuseipdb: cannot write %s: %s", ab->cache_path, strerror(errno));
		unlink(tmp);
	}
}

/* ---- set-up ---- */

static int ab_read_key(struct abuseipdb *ab, char *err, size_t errlen)
{
	char key[128] = "";
	FILE *f = fopen(ab->cfg.key_file, "re");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "abuseipdb_key_file %s: %s", ab->cfg.key_file, strerror(errno));
		return -errno;
	}
	if (!fgets(key, sizeof(key), f))
		*key = '\0';
	fclose(f);
	n = strcspn(key, " \t\r\n");
	key[n] = '\0';
	if (n == 0 || strspn(key, "0123456789abcdefABCDEF") != n) {
		snprintf(err, errlen, "abuseipdb_key_file %s: expected one line holding the key "
			 "(hexadecimal)", ab->cfg.key_file);
		return -EINVAL;
	}
	snprintf(ab->key_hdr, sizeof(ab->key_hdr), "Key: %s", key);
	return 0;
}

int abuseipdb_new(struct ev_loop *loop, const struct reputation_cfg *cfg,
		  const char *state_dir, struct webclient *web, struct events *bus,
		  struct abuseipdb **out, char *err, size_t errlen)
{
	struct abuseipdb *ab;
	int r;

	if (!web) {
		snprintf(err, errlen, "abuseipdb: no web client");
		return -ENOTSUP;
	}
	if (!(ab = calloc(1, sizeof(*ab))))
		return -ENOMEM;
	ab->loop = loop;
	ab->web = web;
	ab->bus = bus;
	ab->cfg = *cfg;
	ab->st.limit = cfg->daily_limit;
	if ((r = ab_read_key(ab, err, errlen)) < 0) {
		free(ab);
		return r;
	}
	ev_timer_init(&ab->flush, ab_on_flush, 0., 0.);
	ab->flush.data = ab;
	snprintf(ab->cache_path, sizeof(ab->cache_path), "%s/abuseipdb.cache", state_dir);
	mkdir(state_dir, 0700);  /* may exist: the cache is best effort */
	ab->day = (uint32_t)(ev_now(loop) / 86400);
	ab_load(ab);
	*out = ab;
	return 0;
}

void abuseipdb_get_stats(const struct abuseipdb *ab, struct abuseipdb_stats *st)
{
	*st = ab->st;
}

void abuseipdb_free(struct abuseipdb *ab)
{
	if (!ab)
		return;
	for (int i = 0; i < AB_PENDING; i++)
		if (ab->pend[i].id)
			webclient_cancel(ab->web, ab->pend[i].id);
	ev_timer_stop(ab->loop, &ab->flush);
	ab_save(ab);
	free(ab);
}
