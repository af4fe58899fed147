/* test_addr.c - parsing, printing, masking and prefix matching. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "addr.h"

static void test_parse_fmt_roundtrip(void **state)
{
	const char *in[] = { "198.18.0.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::1", "::" };
	char buf[ADDR_STRLEN];
	struct ip_addr a;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(addr_parse(in[i], &a), 0);
		assert_string_equal(addr_fmt(&a, buf), in[i]);
	}
	assert_int_equal(addr_parse("198.18.0", &a), -EINVAL);
	assert_int_equal(addr_parse("", &a), -EINVAL);
	assert_int_equal(addr_parse("2001:db8::1/64", &a), -EINVAL);
}

static void test_v4_is_mapped(void **state)
{
	struct ip_addr a, b;

	assert_int_equal(addr_parse("198.18.0.1", &a), 0);
	assert_true(addr_is_v4(&a));
	assert_int_equal(addr_parse("::ffff:198.18.0.1", &b), 0);
	assert_true(addr_eq(&a, &b));
	assert_int_equal(addr_parse("2001:db8::1", &b), 0);
	assert_false(addr_is_v4(&b));
}

static void test_prefix_parse(void **state)
{
	char buf[ADDR_STRLEN];
	struct ip_prefix p;

	assert_int_equal(prefix_parse("198.18.7.9/24", &p), 0);
	assert_int_equal(p.len, 120);
	assert_int_equal(prefix_family_len(&p), 24);
	assert_string_equal(prefix_fmt(&p, buf), "198.18.7.0/24"); /* host bits cleared */
	assert_int_equal(prefix_parse("198.18.7.9", &p), 0);
	assert_string_equal(prefix_fmt(&p, buf), "198.18.7.9");
	assert_int_equal(prefix_parse("2001:db8:1:2:3::4/64", &p), 0);
	assert_string_equal(prefix_fmt(&p, buf), "2001:db8:1:2::/64");
	assert_int_equal(prefix_parse("198.18.0.0/33", &p), -EINVAL);
	assert_int_equal(prefix_parse("2001:db8::/129", &p), -EINVAL);
	assert_int_equal(prefix_parse("198.18.0.0/", &p), -EINVAL);
	assert_int_equal(prefix_parse("198.18.0.0/-1", &p), -EINVAL);
	assert_int_equal(prefix_parse("198.18.0.0/2x", &p), -EINVAL);
	assert_int_equal(prefix_parse("/24", &p), -EINVAL);
}

static void test_prefix_contains(void **state)
{
	struct ip_prefix p;
	struct ip_addr a;

	assert_int_equal(prefix_parse("198.18.0.0/15", &p), 0);
	assert_int_equal(addr_parse("198.19.255.255", &a), 0);
	assert_true(prefix_contains(&p, &a));
	assert_int_equal(addr_parse("198.20.0.0", &a), 0);
	assert_false(prefix_contains(&p, &a));
	/* An IPv4 /0 covers IPv4 only, not IPv6. */
	assert_int_equal(prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(addr_parse("2001:db8::1", &a), 0);
	assert_false(prefix_contains(&p, &a));
	assert_int_equal(prefix_parse("2001:db8:0:1::/64", &p), 0);
	assert_int_equal(addr_parse("2001:db8:0:1:ffff::9", &a), 0);
	assert_true(prefix_contains(&p, &a));
	assert_int_equal(addr_parse("2001:db8:0:2::9", &a), 0);
	assert_false(prefix_contains(&p, &a));
}

static struct ip_prefix P(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(prefix_parse(s, &p), 0);
	return p;
}

/* Nested and overlapping prefixes merge; touching ones stay apart. */
static void test_ranges_merge(void **state)
{
	struct ip_prefix p[] = {
		P("198.18.0.0/16"), P("198.18.5.0/24"), P("198.19.0.1"),
		P("198.19.0.0/31"), P("198.20.0.0/24"), P("198.20.1.0/24"),
	};
	struct ip_range r[6];
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	const char *want[][2] = {
		{ "198.18.0.0", "198.18.255.255" }, { "198.19.0.0", "198.19.0.1" },
		{ "198.20.0.0", "198.20.0.255" }, { "198.20.1.0", "198.20.1.255" },
	};
	size_t n = prefix_ranges(p, 6, r);

	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(addr_fmt(&r[i].first, a), want[i][0]);
		assert_string_equal(addr_fmt(&r[i].last, b), want[i][1]);
	}
}

static void test_hash_seeded(void **state)
{
	struct ip_addr a, b;

	assert_int_equal(addr_parse("198.18.0.1", &a), 0);
	assert_int_equal(addr_parse("198.18.0.2", &b), 0);
	assert_int_equal(addr_hash(&a, 1), addr_hash(&a, 1));
	assert_int_not_equal(addr_hash(&a, 1), addr_hash(&b, 1));
	assert_int_not_equal(addr_hash(&a, 1), addr_hash(&a, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fmt_roundtrip),
		cmocka_unit_test(test_v4_is_mapped),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_ranges_merge),
		cmocka_unit_test(test_hash_seeded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
