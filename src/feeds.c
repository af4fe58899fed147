/* feeds.c - blocklist feeds: [feed NAME] sections, their refresh, their
 * last good copy, and the question "which feeds list this source?".
 *
 * A feed comes from a url (through the shared asynchronous web client:
 * nothing here blocks the loop on the network) or a file, in one of the
 * formats of feeds_parse.c. Each refresh is checked before it replaces
 * anything: it must parse whole, stay under max_bytes and max_entries, and
 * not shrink by more than max_shrink of the entries in force (a truncated
 * or emptied list is far likelier than a real mass delisting). A refused
 * body changes nothing and is reported with where it went wrong.
 *
 * The last body that passed is kept under state_dir/feeds/NAME with its
 * ETag and Last-Modified in NAME.meta. At start it is loaded before the
 * first download, so a restart with the server down enforces the last good
 * list at once; downloads are conditional (If-None-Match,
 * If-Modified-Since), so an unchanged list costs a 304.
 *
 * Entries go to the kernel (nft_feeds.c) as sorted disjoint ranges per
 * family. A drop feed is split around the whitelist and the host's own
 * addresses (they always win), and each entry that covered one is logged.
 * The same ranges, unsplit, answer lookups: a binary search per feed, made
 * only when an alert or ban is published, never per packet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "feeds.h"
#include "fw_feeds.h"
#include "log.h"
#include "webclient.h"

#define FEED_SPLIT_LOG 5            /* split entries logged per load */
#define FEED_HEADERS 4              /* lines of headers_file */

struct feed {
	struct feeds *fs;
	char name[64];
	char url[512], file[512], cainfo[512], headers[512];
	enum feed_format fmt;
	bool drop;
	uint64_t refresh_ms;
	size_t max_bytes, max_entries;
	double max_shrink;
	struct ip_range *r[2];          /* v4, v6: sorted, disjoint, unsplit */
	size_t nr[2], entries;
	char etag[256], modified[256];
	char error[320];
	double last_ok, last_try;
	uint64_t loads, failures;
	int64_t req;                    /* download under way, or 0 */
	unsigned split_logged;
	ev_timer timer;
};

struct feeds {
	struct ev_loop *loop;
	struct fw_feeds *kernel;
	struct webclient *web;
	char dir[CONFIG_PATH_MAX];
	struct ip_range *allow[2];
	size_t nallow[2];
	struct feed f[FEEDS_MAX];
	size_t n;
	void (*on_load)(void *ctx);
	void *on_load_ctx;
};

void feeds_on_load(struct feeds *fs, void (*fn)(void *ctx), void *ctx)
{
	fs->on_load = fn;
	fs->on_load_ctx = ctx;
}

/* ---- configuration ---- */

static void feed_from_cfg(struct feed *f, const struct config *cfg, const char *name)
{
	const char *v;
	uint64_t ms = 3600000;

#define GET(k) config_named_get(cfg, "feed", name, k)
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->url, sizeof(f->url), "%s", (v = GET("url")) ? v : "");
	snprintf(f->file, sizeof(f->file), "%s", (v = GET("file")) ? v : "");
	snprintf(f->cainfo, sizeof(f->cainfo), "%s", (v = GET("cainfo")) ? v : "");
	snprintf(f->headers, sizeof(f->headers), "%s", (v = GET("headers_file")) ? v : "");
	f->fmt = (v = GET("format")) ? (enum feed_format)feed_format_parse(v) : FEED_NETSET;
	f->drop = !(v = GET("action")) || strcmp(v, "alert") != 0;
	if ((v = GET("refresh")))
		config_parse_duration_ms(v, &ms);
	f->refresh_ms = ms;
	f->max_bytes = 64u << 20;
	f->max_entries = 1000000;
	f->max_shrink = 0.5;
	if ((v = GET("max_bytes")))
		feed_parse_size(v, &f->max_bytes);
	if ((v = GET("max_entries")))
		feed_parse_size(v, &f->max_entries);
	if ((v = GET("max_shrink")))
		feed_parse_fraction(v, &f->max_shrink);
#undef GET
}

/* ---- whitelist and splitting ---- */

static int ranges_of(const struct ip_prefix *p, size_t n, struct ip_range *out[2], size_t cnt[2])
{
	struct ip_prefix *part[2] = { malloc((n + 1) * sizeof(*p)), malloc((n + 1) * sizeof(*p)) };
	size_t k[2] = { 0, 0 };
	int r = -ENOMEM;

	out[0] = malloc((n + 1) * sizeof(**out));
	out[1] = malloc((n + 1) * sizeof(**out));
	if (!part[0] || !part[1] || !out[0] || !out[1])
		goto out;
	for (size_t i = 0; i < n; i++) {
		int fam = !addr_is_v4(&p[i].addr);

		part[fam][k[fam]++] = p[i];
	}
	for (int fam = 0; fam < 2; fam++)
		cnt[fam] = prefix_ranges(part[fam], k[fam], out[fam]);
	r = 0;
out:
	free(part[0]);
	free(part[1]);
	if (r < 0) {
		free(out[0]);
		free(out[1]);
		out[0] = out[1] = NULL;
	}
	return r;
}

void feeds_set_whitelist(struct feeds *fs, const struct whitelist *wl)
{
	size_t n;
	const struct ip_prefix *p = whitelist_entries(wl, &n);
	struct ip_range *r[2];
	size_t cnt[2];

	if (ranges_of(p, n, r, cnt) < 0) {
		log_err("feeds: out of memory for the whitelist");
		return;
	}
	for (int fam = 0; fam < 2; fam++) {
		free(fs->allow[fam]);
		fs->allow[fam] = r[fam];
		fs->nallow[fam] = cnt[fam];
	}
}

static void feed_split_note(const struct ip_range *a, const struct ip_range *w, void *ctx)
{
	struct feed *f = ctx;
	char x[ADDR_STRLEN], y[ADDR_STRLEN], z[ADDR_STRLEN], t[ADDR_STRLEN];

	if (f->split_logged++ >= FEED_SPLIT_LOG)
		return;
	log_warn("feed %s: entry %s-%s covers whitelisted or protected %s-%s: %s", f->name,
		 addr_fmt(&a->first, x), addr_fmt(&a->last, y), addr_fmt(&w->first, z),
		 addr_fmt(&w->last, t), f->drop ? "split around it" : "never acted on");
}

/* Loads the ranges of one family, split around the allowed ones. */
static int feed_to_kernel(struct feed *f, int fam, const struct ip_range *r, size_t n,
			  char *err, size_t errlen)
{
	struct feeds *fs = f->fs;
	struct ip_range *out = malloc((n + fs->nallow[fam] + 1) * sizeof(*out));
	size_t k;
	int ret;

	if (!out)
		return -ENOMEM;
	k = feed_ranges_subtract(r, n, fs->allow[fam], fs->nallow[fam], out,
				 feed_split_note, f);
	ret = fs->kernel ? fw_feeds_replace(fs->kernel, f->name, fam, out, k, err, errlen) : 0;
	free(out);
	return ret;
}

/* ---- one body: check, load, keep ---- */

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void feed_fail(struct feed *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed_fail(struct feed *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	f->failures++;
	log_err("feed %s: %s; %s", f->name, f->error,
		f->entries || f->loads ? "the list in force stays" : "nothing loaded yet");
}

/* Parses and checks body; on success the new ranges replace the old ones
 * in the kernel and here. from: where the body came from, for messages. */
static int feed_apply(struct feed *f, const char *body, size_t len, const char *from,
		      bool check_shrink)
{
	struct feed_list l = { 0 };
	struct ip_range *r[2] = { NULL, NULL };
	size_t cnt[2];
	char err[256] = "";
	double t0 = clock_ms(CLOCK_MONOTONIC), t1, c1;
	int ret;

	if ((ret = feed_parse(f->fmt, body, len, f->max_entries, &l, err, sizeof(err))) < 0) {
		feed_fail(f, "%s: %s: refused", from, err);
		goto out;
	}
	if (check_shrink && f->entries &&
	    (double)l.n < (double)f->entries * (1.0 - f->max_shrink)) {
		feed_fail(f, "%s: %zu entries where %zu were in force (shrinks more than "
			  "max_shrink %g): refused", from, l.n, f->entries, f->max_shrink);
		ret = -ERANGE;
		goto out;
	}
	if ((ret = ranges_of(l.p, l.n, r, cnt)) < 0) {
		feed_fail(f, "out of memory");
		goto out;
	}
	f->split_logged = 0;
	t1 = clock_ms(CLOCK_MONOTONIC);
	c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	for (int fam = 0; fam < 2 && ret == 0; fam++)
		ret = feed_to_kernel(f, fam, r[fam], cnt[fam], err, sizeof(err));
	if (f->fs->kernel && f->fs->on_load)
		f->fs->on_load(f->fs->on_load_ctx);
	if (ret < 0) {
		feed_fail(f, "loading into nftables: %s", err);
		goto out;
	}
	if (f->split_logged > FEED_SPLIT_LOG)
		log_warn("feed %s: %u entries covered whitelisted or protected addresses",
			 f->name, f->split_logged);
	for (int fam = 0; fam < 2; fam++) {
		free(f->r[fam]);
		f->r[fam] = r[fam];
		f->nr[fam] = cnt[fam];
		r[fam] = NULL;
	}
	f->entries = l.n;
	f->loads++;
	f->last_ok = ev_now(f->fs->loop);
	*f->error = '\0';
	if (!f->fs->kernel)
		log_info("feed %s: %zu entries from %s (%zu IPv4 and %zu IPv6 ranges); no "
			 "firewall (dry run)", f->name, l.n, from, cnt[0], cnt[1]);
	else
		log_info("feed %s: %zu entries from %s (%zu IPv4 and %zu IPv6 ranges)%s; parsed "
			 "in %.0f ms, loaded into the kernel in %.0f ms (%.0f ms of CPU)", f->name,
			 l.n, from, cnt[0], cnt[1], f->drop ? ", dropped" : ", alert only",
			 t1 - t0, clock_ms(CLOCK_MONOTONIC) - t1,
			 clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c1);
out:
	free(r[0]);
	free(r[1]);
	feed_list_clear(&l);
	return ret;
}

static void feed_path(const struct feed *f, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%s/feeds/%s%s", f->fs->dir, f->name, ext);
}

/* Writes len bytes to path through a temporary file and a rename, so a
 * crash leaves the old copy or the new one, never half of one. */
static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[CONFIG_PATH_MAX + 160];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	while (len && r == 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			data += w, len -= (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static void feed_save(struct feed *f, const char *body, size_t len)
{
	char path[CONFIG_PATH_MAX + 128], meta[600];
	int r, n;

	snprintf(path, sizeof(path), "%s/feeds", f->fs->dir);
	if (mkdir(f->fs->dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		goto fail;
	feed_path(f, "", path, sizeof(path));
	if ((r = write_atomic(path, body, len)) < 0) {
		errno = -r;
		goto fail;
	}
	n = snprintf(meta, sizeof(meta), "etag %s\nmodified %s\n", f->etag, f->modified);
	feed_path(f, ".meta", path, sizeof(path));
	if ((r = write_atomic(path, meta, (size_t)n)) < 0) {
		errno = -r;
		goto fail;
	}
	return;
fail:
	log_warn("feed %s: cannot keep a copy under %s/feeds: %s", f->name, f->fs->dir,
		 strerror(errno));
}

/* Reads a whole file of at most max bytes; 0 or -errno (-EFBIG). */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		r = (size_t)st.st_size > max ? -EFBIG : -errno;
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		r = -ENOMEM;
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t g = read(fd, buf + n, (size_t)st.st_size - n);

		if (g <= 0) {
			if (g < 0 && errno == EINTR)
				continue;
			break;
		}
		n += (size_t)g;
	}
	buf[n] = '\0';
out:
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The last good copy, at start: no shrink check against nothing. */
static void feed_load_state(struct feed *f)
{
	char path[CONFIG_PATH_MAX + 128], *body, *meta, from[CONFIG_PATH_MAX + 160];
	size_t len;

	feed_path(f, ".meta", path, sizeof(path));
	if (read_file(path, 4096, &meta, &len) == 0) {
		for (char *l = strtok(meta, "\n"); l; l = strtok(NULL, "\n")) {
			if (!strncmp(l, "etag ", 5))
				snprintf(f->etag, sizeof(f->etag), "%s", l + 5);
			else if (!strncmp(l, "modified ", 9))
				snprintf(f->modified, sizeof(f->modified), "%s", l + 9);
		}
		free(meta);
	}
	feed_path(f, "", path, sizeof(path));
	if (read_file(path, f->max_bytes, &body, &len) < 0)
		return;
	snprintf(from, sizeof(from), "last good copy %s", path);
	if (feed_apply(f, body, len, from, false) < 0)
		*f->etag = *f->modified = '\0';  /* fetch it whole next time */
	free(body);
}

/* ---- refresh ---- */

static void feed_on_web(const struct web_response *w, void *ctx)
{
	struct feed *f = ctx;
	char h[256];

	f->req = 0;
	if (w->err || w->status == 0) {
		feed_fail(f, "%s: %s", f->url, w->error && *w->error ? w->error :
			  strerror(w->err ? -w->err : EIO));
		return;
	}
	if (w->status == 304) {
		*f->error = '\0';
		f->last_ok = ev_now(f->fs->loop);
		log_debug("feed %s: not modified", f->name);
		return;
	}
	if (w->status != 200) {
		feed_fail(f, "%s: HTTP status %d", f->url, w->status);
		return;
	}
	if (feed_apply(f, w->body, w->len, f->url, true) < 0)
		return;
	snprintf(f->etag, sizeof(f->etag), "%s",
		 web_response_header(w, "ETag", h, sizeof(h)) ? h : "");
	snprintf(f->modified, sizeof(f->modified), "%s",
		 web_response_header(w, "Last-Modified", h, sizeof(h)) ? h : "");
	feed_save(f, w->body, w->len);
}

/* The "Name: value" lines of headers_file (an API key stays out of the
 * configuration), read at each download, into buf and hdrs[*nh...]. */
static int feed_headers(struct feed *f, char *buf, size_t len, const char **hdrs, size_t *nh)
{
	char *body, *line, *save = NULL;
	size_t n;
	int r;

	if (!*f->headers)
		return 0;
	if ((r = read_file(f->headers, len - 1, &body, &n)) < 0) {
		feed_fail(f, "headers_file %s: %s", f->headers,
			  r == -EFBIG ? "too large" : strerror(-r));
		return r;
	}
	memcpy(buf, body, n + 1);
	free(body);
	for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!strchr(line, ':') || *nh >= FEED_HEADERS) {
			feed_fail(f, "headers_file %s: expected at most %d \"Name: value\" lines",
				  f->headers, FEED_HEADERS);
			return -EINVAL;
		}
		hdrs[(*nh)++] = line;
	}
	return 0;
}

static void feed_fetch_url(struct feed *f)
{
	char inm[300], ims[300], extra[1024];
	const char *hdrs[3 + FEED_HEADERS] = { NULL };
	size_t nh = 0;
	struct web_request req = {
		.method = "GET", .url = f->url, .headers = hdrs, .timeout_ms = 60000,
		.max_bytes = f->max_bytes, .cainfo = *f->cainfo ? f->cainfo : NULL,
	};
	int64_t id;

	if (*f->etag) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", f->etag);
		hdrs[nh++] = inm;
	}
	if (*f->modified) {
		snprintf(ims, sizeof(ims), "If-Modified-Since: %s", f->modified);
		hdrs[nh++] = ims;
	}
	if (feed_headers(f, extra, sizeof(extra), hdrs, &nh) < 0)
		return;
	if (!f->fs->web)
		feed_fail(f, "%s: no web client", f->url);
	else if ((id = webclient_request(f->fs->web, &req, feed_on_web, f)) < 0)
		feed_fail(f, "%s: %s", f->url, strerror((int)-id));
	else
		f->req = id;
}

static void feed_fetch_file(struct feed *f)
{
	char *body;
	size_t len;
	int r = read_file(f->file, f->max_bytes, &body, &len);

	if (r < 0) {
		feed_fail(f, "%s: %s", f->file, r == -EFBIG ? "larger than max_bytes" : strerror(-r));
		return;
	}
	if (feed_apply(f, body, len, f->file, true) == 0)
		feed_save(f, body, len);
	free(body);
}

static void feed_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct feed *f = w->data;

	f->last_try = ev_now(loop);
	if (f->req)
		return;  /* the last download is still running */
	if (*f->url)
		feed_fetch_url(f);
	else
		feed_fetch_file(f);
}

/* ---- lookups, listing ---- */

bool feeds_listed(const struct feeds *fs, const struct ip_addr *a)
{
	int fam = !addr_is_v4(a);

	for (size_t i = 0; fs && i < fs->n; i++)
		if (feed_ranges_contain(fs->f[i].r[fam], fs->f[i].nr[fam], a))
			return true;
	return false;
}

size_t feeds_lookup_json(const struct feeds *fs, const struct ip_addr *a, char *buf, size_t len)
{
	int fam = !addr_is_v4(a);
	size_t k = 0, n = 1;

	if (len < 3)
		return 0;
	buf[0] = '[';
	for (size_t i = 0; fs && i < fs->n; i++) {
		const struct feed *f = &fs->f[i];
		size_t need = strlen(f->name) + 3;

		if (!feed_ranges_contain(f->r[fam], f->nr[fam], a) || n + need + 2 > len)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s\"%s\"", k ? "," : "", f->name);
		k++;
	}
	snprintf(buf + n, len - n, "]");
	return k;
}

size_t feeds_tag_event(const struct event *e, char *buf, size_t len, void *ctx)
{
	char list[512];
	int n;

	const struct feeds *fs = ctx;

	/* Without feeds the events stay as they were: no empty list. */
	if (!fs || !fs->n || (e->type != EVT_ALERT && e->type != EVT_BAN) || !e->src.len)
		return 0;
	feeds_lookup_json(ctx, &e->src.addr, list, sizeof(list));
	n = snprintf(buf, len, ",\"feeds\":%s", list);
	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

void feeds_foreach(const struct feeds *fs, void (*cb)(const struct feed_info *, void *),
		   void *ctx)
{
	for (size_t i = 0; fs && i < fs->n; i++) {
		const struct feed *f = &fs->f[i];

		cb(&(struct feed_info){
			.name = f->name, .source = *f->url ? f->url : f->file,
			.action = f->drop ? "drop" : "alert", .last_error = f->error,
			.entries = f->entries, .last_refresh = f->last_ok,
			.last_attempt = f->last_try, .loads = f->loads, .failures = f->failures,
		}, ctx);
	}
}

/* ---- set-up ---- */

static int feeds_kernel_setup(struct feeds *fs, char *err, size_t errlen)
{
	struct fw_feed_def defs[FEEDS_MAX];

	if (!fs->kernel || !fs->n)
		return 0;
	for (size_t i = 0; i < fs->n; i++)
		defs[i] = (struct fw_feed_def){ fs->f[i].name, fs->f[i].drop };
	return fw_feeds_setup(fs->kernel, defs, fs->n, err, errlen);
}

void feeds_restore(struct feeds *fs)
{
	char err[256];

	if (!fs || !fs->kernel || !fs->n)
		return;
	if (feeds_kernel_setup(fs, err, sizeof(err)) < 0) {
		log_err("feeds: re-creating sets and chain: %s", err);
		return;
	}
	for (size_t i = 0; i < fs->n; i++)
		for (int fam = 0; fam < 2; fam++)
			if (feed_to_kernel(&fs->f[i], fam, fs->f[i].r[fam], fs->f[i].nr[fam], err,
					   sizeof(err)) < 0)
				log_err("feed %s: restoring: %s", fs->f[i].name, err);
}

static void feeds_add_all(struct feeds *fs, const struct config *cfg)
{
	for (uint32_t i = 0; i < cfg->nnamed; i++) {
		const struct config_entry *c = &cfg->named[i];
		bool seen = false;

		if (strcmp(c->type, "feed"))
			continue;
		for (size_t j = 0; j < fs->n && !seen; j++)
			seen = !strcmp(fs->f[j].name, c->name);
		if (seen || fs->n == FEEDS_MAX)
			continue;
		fs->f[fs->n].fs = fs;
		feed_from_cfg(&fs->f[fs->n++], cfg, c->name);
	}
}

int feeds_new(struct ev_loop *loop, const struct config *cfg, struct fw_feeds *kernel,
	      struct webclient *web, const struct whitelist *wl, struct feeds **out,
	      char *err, size_t errlen)
{
	struct feeds *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return -ENOMEM;
	fs->loop = loop;
	fs->kernel = kernel;
	fs->web = web;
	snprintf(fs->dir, sizeof(fs->dir), "%s", cfg->state_dir);
	feeds_add_all(fs, cfg);
	feeds_set_whitelist(fs, wl);
	if ((r = feeds_kernel_setup(fs, err, errlen)) < 0) {
		feeds_free(fs);
		return r;
	}
	for (size_t i = 0; i < fs->n; i++) {
		struct feed *f = &fs->f[i];

		feed_load_state(f);
		ev_timer_init(&f->timer, feed_on_timer, 0., f->refresh_ms / 1000.0);
		f->timer.data = f;
		ev_timer_start(loop, &f->timer);
		ev_unref(loop);  /* feeds alone must not keep a replay's loop alive */
	}
	*out = fs;
	return 0;
}

void feeds_free(struct feeds *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->n; i++) {
		struct feed *f = &fs->f[i];

		if (ev_is_active(&f->timer)) {
			ev_ref(fs->loop);
			ev_timer_stop(fs->loop, &f->timer);
		}
		if (f->req && fs->web)
			webclient_cancel(fs->web, f->req);
		free(f->r[0]);
		free(f->r[1]);
	}
	free(fs->allow[0]);
	free(fs->allow[1]);
	free(fs);
}
