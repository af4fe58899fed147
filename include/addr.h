/* addr.h - IPv4/IPv6 addresses and prefixes in one 16-byte form. */
#ifndef DOSIPS_ADDR_H
#define DOSIPS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An address. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so that one
 * 16-byte key, one hash and one compare serve both families. */
struct ip_addr {
	uint8_t b[16];
};

/* A prefix; len counts bits of the 128-bit form (an IPv4 /24 is 120). */
struct ip_prefix {
	struct ip_addr addr;
	uint8_t len;
};

/* Large enough for any address plus "/128". */
#define ADDR_STRLEN 52

/* True when a holds an IPv4-mapped address. */
static inline bool addr_is_v4(const struct ip_addr *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a->b, pfx, 12) == 0;
}

/* True when both addresses are the same. */
static inline bool addr_eq(const struct ip_addr *a, const struct ip_addr *b)
{
	return memcmp(a->b, b->b, 16) == 0;
}

/* Stores the IPv4 address at v4 (4 bytes, network order) in a. Inline:
 * decode calls it twice per packet. */
static inline void addr_from_v4(struct ip_addr *a, const void *v4)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memcpy(a->b, mapped, 12);
	memcpy(a->b + 12, v4, 4);
}

/* Stores the IPv6 address at v6 (16 bytes) in a. */
static inline void addr_from_v6(struct ip_addr *a, const void *v6)
{
	memcpy(a->b, v6, 16);
}

/* Parses a textual IPv4 or IPv6 address; 0 or -EINVAL. */
int addr_parse(const char *s, struct ip_addr *a);

/* Writes a in its usual text form to buf (>= ADDR_STRLEN); returns buf. */
char *addr_fmt(const struct ip_addr *a, char *buf);

/* Clears every bit of a past the first bits128 bits. */
void addr_mask(struct ip_addr *a, unsigned bits128);

/* Parses "ADDR" or "ADDR/LEN" (LEN in the family's own bits); 0 or -EINVAL. */
int prefix_parse(const char *s, struct ip_prefix *p);

/* Writes p as "ADDR" for a full-length prefix, else "ADDR/LEN"; returns buf. */
char *prefix_fmt(const struct ip_prefix *p, char *buf);

/* The prefix length in the family's own bits (IPv4 /24 gives 24). */
unsigned prefix_family_len(const struct ip_prefix *p);

/* True when a lies inside p. */
bool prefix_contains(const struct ip_prefix *p, const struct ip_addr *a);

/* One address range [first, last] of one family. */
struct ip_range {
	struct ip_addr first, last;
};

/* Writes the last address of p to last. */
void prefix_last(const struct ip_prefix *p, struct ip_addr *last);

/* Turns n prefixes into sorted ranges, nested and overlapping ones merged
 * (merely touching ones stay apart); returns the count written to out,
 * which has room for n. */
size_t prefix_ranges(const struct ip_prefix *p, size_t n, struct ip_range *out);

/* murmur3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* A fast 32-bit hash of a, salted with seed. */
uint32_t addr_hash(const struct ip_addr *a, uint32_t seed);

#endif
