/* test_feeds.c - the feed formats as their publishers document them, the
 * refusals and where they point, range splitting around the whitelist,
 * the [feed] section checks, and "feeds" on alert events. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "events.h"
#include "feeds.h"

static int parse(enum feed_format fmt, const char *text, struct feed_list *l, char *err)
{
	*l = (struct feed_list){ 0 };
	return feed_parse(fmt, text, strlen(text), 1000, l, err, 256);
}

static void assert_prefix(const struct ip_prefix *p, const char *want)
{
	char buf[ADDR_STRLEN];

	assert_string_equal(prefix_fmt(p, buf), want);
}

/* FireHOL's netset: '#' header lines, then one address or CIDR a line. */
static void test_netset(void **state)
{
	struct feed_list l;
	char err[256];

	assert_int_equal(parse(FEED_NETSET, "#\n# firehol_level1\n#\n# Maintainer: FireHOL\n"
			       "0.0.0.0/8\n1.10.16.0/20\r\n  223.254.0.0/16  \n198.51.100.7\n"
			       "2001:db8::/32\n", &l, err), 0);
	assert_int_equal(l.n, 5);
	assert_prefix(&l.p[0], "0.0.0.0/8");
	assert_prefix(&l.p[1], "1.10.16.0/20");
	assert_prefix(&l.p[2], "223.254.0.0/16");
	assert_prefix(&l.p[3], "198.51.100.7");
	assert_prefix(&l.p[4], "2001:db8::/32");
	feed_list_clear(&l);
}

/* Spamhaus DROP: "CIDR ; SBLnnnn", ';' comment lines. */
static void test_drop(void **state)
{
	struct feed_list l;
	char err[256];

	assert_int_equal(parse(FEED_DROP, "; Spamhaus DROP List 2026/12/02\n"
			       "; Last-Modified: Wed, 02 Dec 2026 10:00:00 GMT\n"
			       "1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n", &l, err), 0);
	assert_int_equal(l.n, 2);
	assert_prefix(&l.p[1], "1.19.0.0/16");
	feed_list_clear(&l);
	/* The same line in netset format is refused: a format mismatch shows. */
	assert_int_equal(parse(FEED_NETSET, "1.10.16.0/20 ; SBL256894\n", &l, err), -EINVAL);
	assert_string_equal(err, "line 1: not an address or CIDR: \"1.10.16.0/20 ; SBL256894\"");
	feed_list_clear(&l);
}

/* A truncated line or an error page refuses the whole body, naming the line. */
static void test_refusals(void **state)
{
	struct feed_list l;
	char err[256];

	assert_int_equal(parse(FEED_PLAIN, "# list\n198.51.100.7 # bad host\n203.0.113.0/24\n"
			       "203.0.11", &l, err), -EINVAL);
	assert_string_equal(err, "line 4: not an address or CIDR: \"203.0.11\"");
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_NETSET, "<html>\n", &l, err), -EINVAL);
	assert_string_equal(err, "line 1: not an address or CIDR: \"<html>\"");
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_NETSET, "1.2.3.4/33\n", &l, err), -EINVAL);
	feed_list_clear(&l);
	assert_int_equal(feed_parse(FEED_NETSET, "1.1.1.1\n2.2.2.2\n3.3.3.3\n", 24, 2, &l, err,
				    sizeof(err)), -E2BIG);
	assert_string_equal(err, "line 3: more entries than max_entries");
	feed_list_clear(&l);
}

/* AbuseIPDB's blacklist answer (api/v2/blacklist, JSON), a plain array,
 * and broken JSON pointed at by byte offset. */
static void test_json(void **state)
{
	struct feed_list l;
	char err[256];

	assert_int_equal(parse(FEED_JSON, "{\"meta\":{\"generatedAt\":\"2026-12-02T10:00:00+00:00\"},"
			       "\"data\":[{\"ipAddress\":\"198.51.100.7\",\"countryCode\":\"US\","
			       "\"abuseConfidenceScore\":100,\"lastReportedAt\":"
			       "\"2026-12-02T09:58:01+00:00\"},{\"ipAddress\":\"2001:db8::5\","
			       "\"abuseConfidenceScore\":100}]}", &l, err), 0);
	assert_int_equal(l.n, 2);
	assert_prefix(&l.p[0], "198.51.100.7");
	assert_prefix(&l.p[1], "2001:db8::5");
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_JSON, "[\"203.0.113.0/24\", \"198.51.100.1\"]", &l, err), 0);
	assert_int_equal(l.n, 2);
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_JSON, "[\"203.0.113.0/24\", \"198.51.", &l, err), -EINVAL);
	assert_string_equal(err, "byte 27: unexpected end of input");
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_JSON, "[\"203.0.113.0/24\", 7]", &l, err), -EINVAL);
	assert_string_equal(err, "element 1: not an address or CIDR");
	feed_list_clear(&l);
	assert_int_equal(parse(FEED_JSON, "[1] x", &l, err), -EINVAL);
	assert_string_equal(err, "byte 4: data after the JSON value");
	feed_list_clear(&l);
}

static struct ip_range range(const char *a, const char *b)
{
	struct ip_range r;

	assert_int_equal(addr_parse(a, &r.first), 0);
	assert_int_equal(addr_parse(b, &r.last), 0);
	return r;
}

static int overlaps;

static void count_overlap(const struct ip_range *a, const struct ip_range *w, void *ctx)
{
	overlaps++;
}

/* 198.18.0.0/28 with .1 and .2 protected: .0 and .3-.15 stay; a listed
 * range wholly inside the whitelist goes. */
static void test_split(void **state)
{
	struct ip_range a[2] = { range("198.18.0.0", "198.18.0.15"),
				 range("203.0.113.5", "203.0.113.5") };
	struct ip_range w[2] = { range("198.18.0.1", "198.18.0.2"),
				 range("203.0.113.0", "203.0.113.255") };
	struct ip_range out[4];
	char x[ADDR_STRLEN], y[ADDR_STRLEN];
	size_t k;

	overlaps = 0;
	k = feed_ranges_subtract(a, 2, w, 2, out, count_overlap, NULL);
	assert_int_equal(k, 2);
	assert_int_equal(overlaps, 2);
	assert_string_equal(addr_fmt(&out[0].first, x), "198.18.0.0");
	assert_string_equal(addr_fmt(&out[0].last, y), "198.18.0.0");
	assert_string_equal(addr_fmt(&out[1].first, x), "198.18.0.3");
	assert_string_equal(addr_fmt(&out[1].last, y), "198.18.0.15");
	struct ip_range in = range("198.18.0.9", "198.18.0.9");

	assert_true(feed_ranges_contain(out, k, &in.first));
	assert_false(feed_ranges_contain(out, k, &w[0].last));
	assert_false(feed_ranges_contain(out, k, &a[1].first));
}

static int check(const char *text, char *err, size_t errlen)
{
	static struct config cfg;
	char path[] = "/tmp/test_feeds.XXXXXX";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_defaults(&cfg);
	r = config_load(&cfg, path, err, errlen);
	if (r == 0)
		r = config_check(&cfg, err, errlen);
	unlink(path);
	if (r < 0) /* drop the temporary path: compare from the line number */
		memmove(err, strchr(err, ':') + 1, strlen(strchr(err, ':') + 1) + 1);
	return r;
}

static void test_cfg_check(void **state)
{
	char err[512];

	assert_int_equal(check("[feed a]\nurl = https://x/y\nformat = netset\nrefresh = 1h\n"
			       "action = alert\nmax_shrink = 0.25\n", err, sizeof(err)), 0);
	assert_int_equal(check("[feed a]\nurl = https://x/y\nfile = /z\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "2: feed a needs exactly one of url and file");
	assert_int_equal(check("[feed a]\nfile = /z\nformat = csv\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "3: format must be netset, drop, plain or json");
	assert_int_equal(check("[feed a.b]\nfile = /z\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "2: feed name \"a.b\": use up to 40 letters, digits, '_' or '-'");
	assert_int_equal(check("[feed a]\nurl = ftp://x\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "2: url must start with https:// or http://");
	assert_int_equal(check("[feed a]\nfile = /z\nmax_shrink = 2\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(check("[feed a]\nfile = /z\nrefresh = 0\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(check("[feed a]\nfile = /z\nttl = 1\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "3: unknown key in a feed section");
}

/* A reload tells feed sections that changed (they need a restart). */
static void test_cfg_changed(void **state)
{
	static struct config a, b;

	config_defaults(&a);
	config_defaults(&b);
	assert_false(feeds_cfg_changed(&a, &b));
	a.nnamed = b.nnamed = 2;
	a.named[0] = b.named[0] = (struct config_entry){ "notify", "ops", "url", "x", 1 };
	a.named[1] = b.named[1] = (struct config_entry){ "feed", "f", "file", "/a", 2 };
	assert_false(feeds_cfg_changed(&a, &b));
	snprintf(b.named[1].value, sizeof(b.named[1].value), "/b");
	assert_true(feeds_cfg_changed(&a, &b));
	b.nnamed = 1;
	assert_true(feeds_cfg_changed(&a, &b));
	a.nnamed = 1;
	snprintf(b.named[0].value, sizeof(b.named[0].value), "y");
	assert_false(feeds_cfg_changed(&a, &b));  /* not a feed */
}

static char seen[1024];

static void keep(const struct event *e, const char *json, size_t len, void *ctx)
{
	snprintf(seen, sizeof(seen), "%s", json);
}

/* A feed's last good copy is loaded at set-up; an alert from a listed
 * source names it, one from elsewhere has an empty list. */
static void test_event_feeds(void **state)
{
	static struct config cfg;
	char dir[] = "/tmp/test_feeds_st.XXXXXX", path[256], err[256];
	struct ev_loop *loop = ev_default_loop(0);
	struct whitelist *wl;
	struct events *bus;
	struct feeds *fs;
	struct verdict v = { .kind = KIND_SYN_FLOOD, .count = 100, .threshold = 100,
			     .window_ms = 5000 };
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/feeds", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/feeds/listed", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("# netset\n198.51.100.0/24\n", f);
	fclose(f);
	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	snprintf(cfg.file, sizeof(cfg.file), "x.conf");
	cfg.nnamed = 1;
	cfg.named[0] = (struct config_entry){ "feed", "listed", "file", "/nonexistent", 1 };
	assert_int_equal(whitelist_new(&wl), 0);
	assert_int_equal(feeds_new(loop, &cfg, NULL, NULL, wl, &fs, err, sizeof(err)), 0);
	assert_int_equal(events_new(&bus), 0);
	events_subscribe(bus, keep, NULL);
	events_set_tagger(bus, feeds_tag_event, fs);
	assert_int_equal(prefix_parse("198.51.100.7", &v.src), 0);
	events_publish(bus, &(struct event){ .type = EVT_ALERT, .src = v.src, .v = &v });
	assert_non_null(strstr(seen, ",\"feeds\":[\"listed\"]}"));
	assert_int_equal(prefix_parse("203.0.113.7", &v.src), 0);
	events_publish(bus, &(struct event){ .type = EVT_BAN, .src = v.src });
	assert_non_null(strstr(seen, ",\"feeds\":[]}"));
	events_publish(bus, &(struct event){ .type = EVT_UNBAN, .src = v.src });
	assert_null(strstr(seen, "feeds"));
	events_free(bus);
	feeds_free(fs);
	whitelist_free(wl);
	unlink(path);
	snprintf(path, sizeof(path), "%s/feeds", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netset),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_cfg_check),
		cmocka_unit_test(test_cfg_changed),
		cmocka_unit_test(test_event_feeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
