/* addr.c - parsing, printing, masking and hashing of addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "addr.h"

int addr_parse(const char *s, struct ip_addr *a)
{
	uint8_t buf[16];

	if (inet_pton(AF_INET, s, buf) == 1) {
		addr_from_v4(a, buf);
		return 0;
	}
	if (inet_pton(AF_INET6, s, buf) == 1) {
		addr_from_v6(a, buf);
		return 0;
	}
	return -EINVAL;
}

char *addr_fmt(const struct ip_addr *a, char *buf)
{
	if (addr_is_v4(a))
		inet_ntop(AF_INET, a->b + 12, buf, ADDR_STRLEN);
	else
		inet_ntop(AF_INET6, a->b, buf, ADDR_STRLEN);
	return buf;
}

void addr_mask(struct ip_addr *a, unsigned bits128)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits128 > i * 8 ? bits128 - i * 8 : 0;

		if (keep < 8)
			a->b[i] &= (uint8_t)(0xff00 >> keep);
	}
}

unsigned prefix_family_len(const struct ip_prefix *p)
{
	return addr_is_v4(&p->addr) ? p->len - 96u : p->len;
}

int prefix_parse(const char *s, struct ip_prefix *p)
{
	char buf[ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, len;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (addr_parse(buf, &p->addr) < 0)
		return -EINVAL;
	max = addr_is_v4(&p->addr) ? 32 : 128;
	len = max;
	if (slash) {
		char *end;
		unsigned long v;

		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (errno || *end || v > max)
			return -EINVAL;
		len = (unsigned)v;
	}
	p->len = (uint8_t)(len + 128 - max);
	addr_mask(&p->addr, p->len);
	return 0;
}

char *prefix_fmt(const struct ip_prefix *p, char *buf)
{
	unsigned flen = prefix_family_len(p);

	addr_fmt(&p->addr, buf);
	if (p->len < 128)
		snprintf(buf + strlen(buf), 6, "/%u", flen);
	return buf;
}

bool prefix_contains(const struct ip_prefix *p, const struct ip_addr *a)
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr.b, a->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((p->addr.b[full] ^ a->b[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

void prefix_last(const struct ip_prefix *p, struct ip_addr *last)
{
	*last = p->addr;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = p->len > i * 8 ? p->len - i * 8 : 0;

		if (keep < 8)
			last->b[i] |= (uint8_t)(0xff >> keep);
	}
}

static int range_cmp(const void *a, const void *b)
{
	const struct ip_range *x = a, *y = b;
	int c = memcmp(x->first.b, y->first.b, 16);

	return c ? c : -memcmp(x->last.b, y->last.b, 16);
}

/* Ranges may only nest or overlap here, never merely touch: touching ones
 * stay apart, which an interval set takes as two adjacent intervals. */
size_t prefix_ranges(const struct ip_prefix *p, size_t n, struct ip_range *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		out[i].first = p[i].addr;
		addr_mask(&out[i].first, p[i].len);
		prefix_last(&p[i], &out[i].last);
	}
	if (n > 1)
		qsort(out, n, sizeof(*out), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && memcmp(out[i].first.b, out[k - 1].last.b, 16) <= 0) {
			if (memcmp(out[i].last.b, out[k - 1].last.b, 16) > 0)
				out[k - 1].last = out[i].last;
			continue;
		}
		out[k++] = out[i];
	}
	return k;
}

/* Both 64-bit halves go through a full finaliser, so callers may use any
 * bits of the result (IPv4 sits in the top half of the second word); the
 * random seed keeps an attacker from aiming sources at one bucket. */
uint32_t addr_hash(const struct ip_addr *a, uint32_t seed)
{
	uint64_t w[2];

	memcpy(w, a->b, 16);
	return (uint32_t)mix64(mix64(w[0] ^ seed ^ 0x9e3779b97f4a7c15ull) ^ w[1]);
}
