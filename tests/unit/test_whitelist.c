/* test_whitelist.c - the whitelist file, CIDR matching, overlaps, gateways. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "whitelist.h"

/* Writes text to a fresh temporary file; its path goes to path. */
static void write_tmp(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/test_whitelist.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static struct whitelist *load_text(const char *text, int *r, char *err, size_t errlen,
				   char *path, size_t plen)
{
	struct whitelist *wl;

	assert_int_equal(whitelist_new(&wl), 0);
	write_tmp(path, plen, text);
	*r = whitelist_load(wl, path, err, errlen);
	unlink(path);
	return wl;
}

static bool match(const struct whitelist *wl, const char *addr)
{
	struct ip_addr a;

	assert_int_equal(addr_parse(addr, &a), 0);
	return whitelist_match(wl, &a);
}

static bool overlaps(const struct whitelist *wl, const char *prefix)
{
	struct ip_prefix p;

	assert_int_equal(prefix_parse(prefix, &p), 0);
	return whitelist_overlaps(wl, &p);
}

static void test_parse_ok(void **state)
{
	const char *text =
		"# hosts never banned\n"
		"\n"
		"198.18.0.1\n"
		"   198.18.16.0/20   \n"
		"\t2001:db8:1::/48\t# the office\n"
		"2001:db8::7 # a comment right after\n"
		"198.19.0.0/16#no space before the comment\n"
		"   # an indented comment\n"
		"10.1.2.3/8\r\n";
	char err[256] = "", path[64];
	int r;
	struct whitelist *wl = load_text(text, &r, err, sizeof(err), path, sizeof(path));
	size_t n;
	const struct ip_prefix *e;
	char buf[ADDR_STRLEN];

	assert_int_equal(r, 0);
	assert_string_equal(err, "");
	e = whitelist_entries(wl, &n);
	assert_int_equal(n, 6);
	assert_string_equal(prefix_fmt(&e[0], buf), "198.18.0.1");
	assert_string_equal(prefix_fmt(&e[1], buf), "198.18.16.0/20");
	assert_string_equal(prefix_fmt(&e[2], buf), "2001:db8:1::/48");
	assert_string_equal(prefix_fmt(&e[3], buf), "2001:db8::7");
	assert_string_equal(prefix_fmt(&e[4], buf), "198.19.0.0/16");
	/* Host bits are cleared: 10.1.2.3/8 is 10.0.0.0/8. */
	assert_string_equal(prefix_fmt(&e[5], buf), "10.0.0.0/8");
	whitelist_free(wl);
}

static void check_error(const char *text, const char *want_fmt)
{
	char err[256] = "", path[64], want[320];
	int r;
	struct whitelist *wl = load_text(text, &r, err, sizeof(err), path, sizeof(path));

	assert_int_equal(r, -EINVAL);
	snprintf(want, sizeof(want), want_fmt, path);
	assert_string_equal(err, want);
	whitelist_free(wl);
}

static void test_parse_errors(void **state)
{
	check_error("198.18.0.1\n198.18.0.300\n", "%s:2: bad address '198.18.0.300'");
	check_error("# c\n\n2001:db8::/129\n", "%s:3: bad prefix length '/129' (0 to 128)");
	check_error("198.18.0.0/33\n", "%s:1: bad prefix length '/33' (0 to 32)");
	check_error("198.18.0.0/\n", "%s:1: bad prefix length '/' (0 to 32)");
	check_error("198.18.0.0/2x\n", "%s:1: bad prefix length '/2x' (0 to 32)");
	check_error("198.18.0.0/-1\n", "%s:1: bad prefix length '/-1' (0 to 32)");
	check_error("198.18.0.1\n\n  198.18.0.2 198.18.0.3  \n",
		    "%s:3: junk after entry: '198.18.0.3'");
	check_error("198.18.0.1 allow # why\n", "%s:1: junk after entry: 'allow # why'");
	check_error("/24\n", "%s:1: bad address ''");
	check_error("host.example\n", "%s:1: bad address 'host.example'");
}

static void test_missing_file(void **state)
{
	struct whitelist *wl;
	char err[256];

	assert_int_equal(whitelist_new(&wl), 0);
	assert_int_equal(whitelist_load(wl, "/nonexistent/whitelist", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/whitelist: No such file or directory");
	whitelist_free(wl);
}

static void test_match_cidr(void **state)
{
	char err[256], path[64];
	int r;
	struct whitelist *wl = load_text("198.18.16.0/20\n198.18.0.1\n2001:db8:1::/48\n"
					 "2001:db8:2::5\n",
					 &r, err, sizeof(err), path, sizeof(path));

	assert_int_equal(r, 0);
	assert_true(match(wl, "198.18.16.0"));
	assert_true(match(wl, "198.18.31.255"));
	assert_false(match(wl, "198.18.32.0"));
	assert_false(match(wl, "198.18.15.255"));
	assert_true(match(wl, "198.18.0.1"));
	assert_false(match(wl, "198.18.0.2"));
	assert_true(match(wl, "2001:db8:1:ffff::1"));
	assert_false(match(wl, "2001:db8:0:ffff::1"));
	assert_true(match(wl, "2001:db8:2::5"));
	assert_false(match(wl, "2001:db8:2::6"));
	/* IPv4 entries do not leak into IPv6 space or the other way round. */
	assert_false(match(wl, "::c612:1"));
	assert_false(match(wl, "::"));
	whitelist_free(wl);
}

static void test_overlaps(void **state)
{
	char err[256], path[64];
	int r;
	struct whitelist *wl = load_text("198.18.16.0/20\n2001:db8:aaaa::1\n",
					 &r, err, sizeof(err), path, sizeof(path));

	assert_int_equal(r, 0);
	/* A ban prefix around a whitelisted host overlaps it. */
	assert_true(overlaps(wl, "2001:db8:aaaa::/64"));
	assert_true(overlaps(wl, "2001:db8::/32"));
	assert_false(overlaps(wl, "2001:db8:aaab::/64"));
	/* Inside, around, partly over, and beside the /20. */
	assert_true(overlaps(wl, "198.18.17.0/24"));
	assert_true(overlaps(wl, "198.18.0.0/16"));
	assert_true(overlaps(wl, "198.18.31.255"));
	assert_false(overlaps(wl, "198.18.32.0/24"));
	assert_false(overlaps(wl, "198.18.0.0/20"));
	whitelist_free(wl);
}

/* The index after a load and the scan before it agree, on random data. */
static void test_index_matches_scan(void **state)
{
	struct whitelist *scan, *index;
	unsigned seed = 12345;

	assert_int_equal(whitelist_new(&scan), 0);
	assert_int_equal(whitelist_new(&index), 0);
	for (int i = 0; i < 300; i++) {
		struct ip_prefix p;
		uint8_t v4[4] = { 198, (uint8_t)(18 + (rand_r(&seed) & 1)),
				  (uint8_t)rand_r(&seed), (uint8_t)rand_r(&seed) };

		addr_from_v4(&p.addr, v4);
		p.len = (uint8_t)(96 + 16 + rand_r(&seed) % 17);
		addr_mask(&p.addr, p.len);
		assert_int_equal(whitelist_add(scan, &p), 0);
		assert_int_equal(whitelist_add(index, &p), 0);
	}
	/* No route files: this only builds the index. */
	assert_int_equal(whitelist_add_gateways(index, NULL, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		struct ip_prefix p;
		uint8_t v4[4] = { 198, (uint8_t)(18 + (rand_r(&seed) & 1)),
				  (uint8_t)rand_r(&seed), (uint8_t)rand_r(&seed) };

		addr_from_v4(&p.addr, v4);
		p.len = (uint8_t)(96 + 8 + rand_r(&seed) % 25);
		addr_mask(&p.addr, p.len);
		assert_int_equal(whitelist_match(scan, &p.addr), whitelist_match(index, &p.addr));
		assert_int_equal(whitelist_overlaps(scan, &p), whitelist_overlaps(index, &p));
	}
	whitelist_free(scan);
	whitelist_free(index);
}

static void test_gateways(void **state)
{
	char r4[64], r6[64];
	struct whitelist *wl;
	size_t n;

	/* The kernel prints the gateway as the hex of its network-order
	 * 32-bit value: build the line the same way so it fits any host. */
	uint8_t gw[4] = { 198, 18, 9, 1 };
	uint32_t raw;
	char text[512];

	memcpy(&raw, gw, 4);
	snprintf(text, sizeof(text),
		 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
		 "eth0\t00000000\t%08X\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		 "eth0\t0009A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", raw);
	write_tmp(r4, sizeof(r4), text);
	write_tmp(r6, sizeof(r6),
		  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		  "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
		  "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
		  "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
		  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		  "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n");
	assert_int_equal(whitelist_new(&wl), 0);
	assert_int_equal(whitelist_add_gateways(wl, r4, r6), 0);
	whitelist_entries(wl, &n);
	assert_int_equal(n, 2);
	assert_true(match(wl, "198.18.9.1"));
	assert_true(match(wl, "fe80::1"));
	assert_false(match(wl, "192.168.9.1"));
	assert_false(match(wl, "2001:db8::1"));
	/* A missing file (no IPv6 on this host) is not an error. */
	assert_int_equal(whitelist_add_gateways(wl, "/nonexistent/route", NULL), 0);
	unlink(r4);
	unlink(r6);
	whitelist_free(wl);
}

static void test_local(void **state)
{
	struct whitelist *wl;

	assert_int_equal(whitelist_new(&wl), 0);
	assert_int_equal(whitelist_add_local(wl), 0);
	assert_true(match(wl, "127.0.0.1"));
	assert_true(match(wl, "127.255.0.9"));
	assert_true(match(wl, "::1"));
	assert_false(match(wl, "198.51.100.77"));  /* TEST-NET-2: on no host here */
	whitelist_free(wl);
}

static void test_empty(void **state)
{
	char err[256], path[64];
	int r;
	struct whitelist *wl = load_text("\n# nothing\n   \n", &r, err, sizeof(err),
					 path, sizeof(path));
	size_t n;

	assert_int_equal(r, 0);
	whitelist_entries(wl, &n);
	assert_int_equal(n, 0);
	assert_false(match(wl, "198.18.0.1"));
	assert_false(overlaps(wl, "::/0"));
	whitelist_free(wl);
	whitelist_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_match_cidr),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_index_matches_scan),
		cmocka_unit_test(test_gateways),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
