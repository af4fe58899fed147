/* mkpcapng.c - rewrites a pcap file (Ethernet, IPv4) as pcapng with
 * per-packet direction flags, for the replay tests of pcapng.c.
 *
 *   mkpcapng IN.pcap OUT.pcapng [--out A.B.C.D] [--ns] [--swap] [--no-flags]
 *            [--extra] [--spb N]
 *
 *   --out      packets from this IPv4 source are flagged outbound (epb_flags
 *              direction 10), all others inbound (01)
 *   --ns       timestamps in nanoseconds (if_tsresol 9), not microseconds
 *   --swap     the file in the other byte order than this machine's
 *   --no-flags no epb_flags option at all
 *   --extra    a comment option before the flags, a name resolution block
 *              and a custom block between packets: what the walker skips
 *   --spb N    every Nth packet as a simple packet block (no flags)
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPB_SNAP 96

static int swap;
static FILE *out;

static void w32(uint32_t v)
{
	v = swap ? __builtin_bswap32(v) : v;
	fwrite(&v, 4, 1, out);
}

static void w16(uint16_t v)
{
	v = swap ? __builtin_bswap16(v) : v;
	fwrite(&v, 2, 1, out);
}

static void pad(size_t n)
{
	static const uint8_t z[4];

	fwrite(z, 1, (4 - n % 4) % 4, out);
}

/* An option of n bytes of value. */
static void opt(uint16_t code, const void *v, uint16_t n)
{
	w16(code);
	w16(n);
	fwrite(v, 1, n, out);
	pad(n);
}

static void opt32(uint16_t code, uint32_t v)
{
	w16(code);
	w16(4);
	w32(v);
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	struct in_addr outsrc = { 0 };
	int ns = 0, flags = 1, extra = 0, spb = 0, r;
	unsigned long n = 0;
	pcap_t *p;

	if (argc < 3) {
		fprintf(stderr, "usage: mkpcapng IN OUT [--out A] [--ns] [--swap] [--no-flags] [--extra] [--spb N]\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc)
			inet_pton(AF_INET, argv[++i], &outsrc);
		else if (!strcmp(argv[i], "--ns"))
			ns = 1;
		else if (!strcmp(argv[i], "--swap"))
			swap = 1;
		else if (!strcmp(argv[i], "--no-flags"))
			flags = 0;
		else if (!strcmp(argv[i], "--extra"))
			extra = 1;
		else if (!strcmp(argv[i], "--spb") && i + 1 < argc)
			spb = atoi(argv[++i]);
		else
			return fprintf(stderr, "mkpcapng: %s?\n", argv[i]), 2;
	}
	if (!(p = pcap_open_offline(argv[1], err)))
		return fprintf(stderr, "mkpcapng: %s\n", err), 1;
	if (!(out = fopen(argv[2], "wb")))
		return perror("mkpcapng"), 1;
	/* Section header, with an application name option. */
	w32(0x0a0d0d0a); w32(28 + 16); w32(0x1a2b3c4d); w16(1); w16(0);
	w32(0xffffffff); w32(0xffffffff);
	opt(4, "mkpcapng", 8); opt(0, "", 0);
	w32(28 + 16);
	/* Interface description, resolution option when in ns. */
	w32(1); w32(20 + (ns ? 8 : 0) + 4); w16((uint16_t)pcap_datalink(p)); w16(0);
	/* A simple packet block holds min(length, snaplen) bytes: a snaplen
	 * all the generator's headers fit, the rest zeros. */
	w32(spb ? SPB_SNAP : (uint32_t)pcap_snapshot(p));
	if (ns) {
		uint8_t res = 9;

		opt(9, &res, 1);
	}
	opt(0, "", 0);
	w32(20 + (ns ? 8 : 0) + 4);
	while ((r = pcap_next_ex(p, &h, &d)) == 1) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * (ns ? 1000000000u : 1000000u) +
			      (uint64_t)h->ts.tv_usec * (ns ? 1000u : 1u);
		uint32_t cap = (h->caplen + 3) & ~3u, dir = 1, len;

		n++;
		if (extra && n % 7 == 0) {
			/* Name resolution: one IPv4 record, then end. */
			static const uint8_t rec[] = { 198, 18, 0, 1, 'h', 0 };

			w32(4); w32(12 + 4 + 8 + 4); w16(1); w16(6);
			fwrite(rec, 1, 6, out); pad(6); w16(0); w16(0); w32(12 + 4 + 8 + 4);
			/* A custom block that may be copied (PEN 32473, example). */
			w32(0x00000bad); w32(12 + 4 + 4); w32(32473); w32(0xdeadbeef); w32(12 + 8);
		}
		if (spb && n % (unsigned long)spb == 0) {
			uint8_t b[SPB_SNAP] = { 0 };
			uint32_t k = h->len < SPB_SNAP ? h->len : SPB_SNAP, kp = (k + 3) & ~3u;

			memcpy(b, d, h->caplen < k ? h->caplen : k);
			w32(3); w32(16 + kp); w32(h->len); fwrite(b, 1, k, out);
			pad(k); w32(16 + kp);
			continue;
		}
		if (h->caplen >= 30 && d[12] == 8 && d[13] == 0 && outsrc.s_addr &&
		    !memcmp(d + 26, &outsrc, 4))
			dir = 2;
		len = 32 + cap + (flags ? 8 : 0) + (extra ? 8 : 0) + 4;
		w32(6); w32(len); w32(0); w32((uint32_t)(ts >> 32)); w32((uint32_t)ts);
		w32(h->caplen); w32(h->len);
		fwrite(d, 1, h->caplen, out);
		pad(h->caplen);
		if (extra)
			opt(1, "ok", 2);
		if (flags)
			opt32(2, dir);
		opt(0, "", 0);
		w32(len);
	}
	pcap_close(p);
	if (fclose(out) != 0)
		return perror("mkpcapng"), 1;
	fprintf(stderr, "mkpcapng: %s: %lu packets\n", argv[2], n);
	return 0;
}
