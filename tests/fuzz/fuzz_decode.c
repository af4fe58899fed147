/* fuzz_decode.c - libFuzzer target for decode_packet.
 *
 * The first input byte picks a link type, the rest is the frame, which
 * libFuzzer hands over in a buffer of exactly its size so that ASan
 * catches any read past caplen. Besides crashes it traps on a decoded
 * packet that breaks the contract of struct pkt.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *	tests/fuzz/fuzz_decode.c src/decode.c src/addr.c -o fuzz_decode
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <pcap/dlt.h>

#include "decode.h"

/* Every link type decode knows, plus one it does not. */
static const int fuzz_dlts[] = {
	DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101,
	DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_IEEE802_11,
};

#define FUZZ_NDLT (sizeof(fuzz_dlts) / sizeof(fuzz_dlts[0]))

static void fuzz_check(int dlt, enum decode_result r, const struct pkt *p)
{
	if ((unsigned)r >= DEC__MAX || !decode_result_name(r)[0])
		__builtin_trap();
	if (decode_link_supported(dlt) != (r != DEC_LINK_UNSUPP))
		__builtin_trap();
	if (r != DEC_OK && r < DEC_SRC_BOGUS)
		return;
	if (p->family != AF_INET && p->family != AF_INET6)
		__builtin_trap();
	/* An IPv6 packet may carry IPv4-mapped addresses; the reverse never. */
	if (p->family == AF_INET &&
	    (!addr_is_v4(&p->src) || !addr_is_v4(&p->dst)))
		__builtin_trap();
	if (p->ts_us != 42 || (p->flags & ~(PKT_FRAG | PKT_L4 | PKT_ICMP_ERR)) ||
	    (p->flags & PKT_FRAG && p->flags & PKT_L4))
		__builtin_trap();
	/* A quoted flow only in an ICMP error, and only of TCP or UDP. */
	if ((p->flags & PKT_ICMP_ERR) &&
	    (!(p->flags & PKT_L4) || (p->proto != 1 && p->proto != 58) ||
	     (p->inner_proto != 6 && p->inner_proto != 17)))
		__builtin_trap();
	if (!(p->flags & PKT_ICMP_ERR) && p->inner_proto)
		__builtin_trap();
	if (p->dir > PKT_DIR_OUT)
		__builtin_trap();
	/* A source no host can hold is never DEC_OK: no IPv4 inside IPv6. */
	if (r == DEC_OK && p->family == AF_INET6 && addr_is_v4(&p->src))
		__builtin_trap();
	if (!(p->flags & PKT_L4) && (p->sport || p->dport || p->tcp_flags ||
				     p->icmp_type || p->icmp_code))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt p;
	enum decode_result r;
	uint32_t caplen, wirelen;
	int dlt;

	if (size < 1 || size - 1 > UINT16_MAX)
		return 0;
	/* Low nibble: link type; high nibble: how much was not captured,
	 * 15 standing for a damaged header with wirelen < caplen. */
	dlt = fuzz_dlts[(data[0] & 0x0f) % FUZZ_NDLT];
	caplen = (uint32_t)(size - 1);
	wirelen = caplen + (uint32_t)(data[0] >> 4) * 4096;
	if (data[0] >> 4 == 15)
		wirelen = caplen / 2;
	/* Garbage first, so a field decode leaves unset is seen. */
	__builtin_memset(&p, 0xa5, sizeof(p));
	r = decode_packet(dlt, data + 1, caplen, wirelen, 42, &p);
	fuzz_check(dlt, r, &p);
	return 0;
}
