/* test_routes.c - the routing table from /proc-format files the test
 * writes: default interface by metric and family, gateways, odd lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "routes.h"

static char r4[64], r6[64];

static void write_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/dosips-routes-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static int teardown(void **state)
{
	unlink(r4);
	unlink(r6);
	return 0;
}

#define HDR4 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

/* The lowest metric among the default routes that are up. */
static void test_default_iface_v4_metric(void **state)
{
	char name[IF_NAMESIZE];

	write_file(r4, sizeof(r4), HDR4
		   "wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
		   "eth1\t0012C6C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
		   "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		   "down0\t00000000\t0100A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n");
	write_file(r6, sizeof(r6), "");
	assert_int_equal(routes_default_iface(r4, r6, name, sizeof(name)), 0);
	assert_string_equal(name, "eth0");
}

/* No IPv4 default: IPv6's, never the "lo" reject route. */
static void test_default_iface_v6(void **state)
{
	char name[IF_NAMESIZE];

	write_file(r4, sizeof(r4), HDR4
		   "eth1\t0012C6C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
	write_file(r6, sizeof(r6),
		   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		   "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
		   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		   "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens3\n");
	assert_int_equal(routes_default_iface(r4, r6, name, sizeof(name)), 0);
	assert_string_equal(name, "ens3");
	assert_int_equal(routes_default_iface(r4, NULL, name, sizeof(name)), -ENOENT);
	assert_int_equal(routes_default_iface("/nonexistent", "/nonexistent", name,
					      sizeof(name)), -ENOENT);
}

struct seen {
	int n, gw;
	struct route last;
};

static int count(const struct route *r, void *ctx)
{
	struct seen *s = ctx;

	s->n++;
	s->gw += r->has_gateway;
	s->last = *r;
	return s->n == 3 ? 42 : 0;
}

/* Each line a route with its prefix and gateway; fn's non-zero stops. */
static void test_read_fields_and_stop(void **state)
{
	struct seen s = { 0 };
	char buf[ADDR_STRLEN];

	write_file(r4, sizeof(r4), HDR4
		   "eth1\t0012C6C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
		   "garbage line\n"
		   "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
	write_file(r6, sizeof(r6),
		   "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
		   "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
		   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		   "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n");
	assert_int_equal(routes_read(r4, r6, count, &s), 42);
	assert_int_equal(s.n, 3);
	assert_string_equal(prefix_fmt(&s.last.dst, buf), "2001:db8::/64");
	s = (struct seen){ 0 };
	assert_int_equal(routes_read(r4, NULL, count, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.gw, 1);
	assert_string_equal(addr_fmt(&s.last.gateway, buf), "192.168.0.1");
	assert_int_equal(s.last.metric, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_default_iface_v4_metric, teardown),
		cmocka_unit_test_teardown(test_default_iface_v6, teardown),
		cmocka_unit_test_teardown(test_read_fields_and_stop, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
