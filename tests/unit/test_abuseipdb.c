/* test_abuseipdb.c - which addresses may be sent to AbuseIPDB: never the
 * special-purpose ones of RFC 6890 (IANA's registries), always the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "abuseipdb.h"

static bool reserved(const char *s)
{
	struct ip_addr a;

	assert_int_equal(addr_parse(s, &a), 0);
	return abuseipdb_reserved(&a);
}

static void test_reserved(void **state)
{
	static const char *const never[] = {
		"10.1.2.3", "172.31.255.255", "192.168.0.1", "127.0.0.1", "169.254.1.1",
		"100.64.0.1", "198.18.0.7", "198.19.255.255", "192.0.2.1", "203.0.113.9",
		"198.51.100.1", "224.0.0.1", "255.255.255.255", "0.1.2.3", "::1", "::",
		"fe80::1", "fd00::1", "ff02::1", "2001:db8::1", "2002:c000:204::1",
	};
	static const char *const public[] = {
		"1.2.3.4", "8.8.8.8", "172.32.0.1", "198.20.0.1", "223.255.255.255",
		"2a00:1450:4001::1", "2606:4700::1111",
	};

	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (!reserved(never[i]))
			fail_msg("%s would be sent", never[i]);
	for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		if (reserved(public[i]))
			fail_msg("%s would not be sent", public[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_reserved) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}
