/* fuzz_feeds.c - feed_parse on arbitrary bytes in every format (the first
 * byte picks it): an error that says where ("line N:", "byte N:",
 * "element N:"), or entries whose merged ranges contain each entry's first
 * and last address; splitting those ranges around a fixed "whitelist" never
 * keeps an address of it. Never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds.h"

static void check_ranges(const struct feed_list *l)
{
	struct ip_range *r = malloc((l->n + 1) * sizeof(*r)), *out;
	struct ip_range w[2];
	struct ip_prefix wp[2];
	size_t n, k;

	if (!r)
		return;
	n = prefix_ranges(l->p, l->n, r);
	for (size_t i = 0; i < l->n; i++) {
		struct ip_addr last;

		prefix_last(&l->p[i], &last);
		if (!feed_ranges_contain(r, n, &l->p[i].addr) || !feed_ranges_contain(r, n, &last))
			__builtin_trap();
	}
	/* Mixed families in one list are fine for this check: the whitelist
	 * ranges are sorted disjoint in the same 128-bit order. */
	prefix_parse("10.0.0.0/8", &wp[0]);
	prefix_parse("198.18.0.1", &wp[1]);
	n = prefix_ranges(l->p, l->n, r);
	prefix_ranges(wp, 2, w);
	if ((out = malloc((n + 3) * sizeof(*out)))) {
		k = feed_ranges_subtract(r, n, w, 2, out, NULL, NULL);
		for (size_t i = 0; i < k; i++)
			if (feed_ranges_contain(w, 2, &out[i].first) ||
			    feed_ranges_contain(w, 2, &out[i].last) ||
			    memcmp(out[i].first.b, out[i].last.b, 16) > 0)
				__builtin_trap();
		free(out);
	}
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_list l = { 0 };
	char err[512];
	int r;

	if (size == 0)
		return 0;
	r = feed_parse((enum feed_format)(data[0] % FEED__MAX), (const char *)data + 1, size - 1,
		       100000, &l, err, sizeof(err));
	if (r < 0 && strncmp(err, "line ", 5) && strncmp(err, "byte ", 5) &&
	    strncmp(err, "element ", 8))
		__builtin_trap();  /* every refusal says where */
	if (r == 0)
		check_ranges(&l);
	feed_list_clear(&l);
	return 0;
}
