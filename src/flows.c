/* flows.c - a fixed-size memory of conversations, for detect.
 *
 * A flow is a conversation between two endpoints (address and port, or
 * ICMP echo identifier) in one protocol, keyed the same in both
 * directions. Its entry remembers which side spoke first (the initiator),
 * whether the other side has answered (and when last), and, for TCP,
 * whether both sides have gone past the handshake. detect asks for every
 * packet (flows_packet) and so can tell:
 *
 *  - an answer (a SYN-ACK or RST to a SYN, an echo reply, a UDP reply, an
 *    ICMP error quoting a packet of the flow) from a question: answers
 *    never feed a detector for their sender, so the protected host is
 *    never a subject, even in a capture without direction;
 *  - an answered conversation (a UDP service that replies: DNS, QUIC,
 *    WireGuard, a VoIP call) from an unanswered flood: "answered" means the
 *    answering side sent something other than an ICMP error in this flow
 *    within the timeout (flow_timeout, 120 s by default) of now;
 *  - a first packet from a flow never seen (a stealth scan's probe) from a
 *    packet of a flow under way;
 *  - a source holding a two-way exchange (a completed TCP handshake, an
 *    answered flow): the peers table, keyed by the source as detect groups
 *    it, refreshed at most once a second per flow.
 *
 * Memory is fixed at flows_new: buckets of four 16-byte entries, one cache
 * line each, found by a keyed hash the sender cannot aim. A bucket that is
 * full gives up, in turn, an expired entry, one never answered, the least
 * recently used: a spoofed flood, whose flows are all unanswered, evicts
 * its own entries and not the conversations of real clients. An entry
 * keeps a 32-bit fingerprint of its key, not the key: two flows of one
 * bucket share a fingerprint with odds of 2^-32.
 *
 * Time is detect's clock in ticks of 1024 us, 32 bits wide: differences
 * are taken modulo 2^32, right for 50 days between two packets of a flow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
/* DETECT_PORTABLE builds the fallbacks of the SSE2 and 128-bit paths, as
 * in detect.c, for the portable unit tests. */
#if defined(__SSE2__) && !defined(DETECT_PORTABLE)
#define FLOWS_SSE2 1
#include <emmintrin.h>
#endif
#if defined(__SIZEOF_INT128__) && !defined(DETECT_PORTABLE)
#define FLOWS_INT128 1
#endif

#include "bigmem.h"
#include "flows.h"

#define FWAYS		4
#define F_SIDE		0x01	/* the initiator's side */
#define F_ANS		0x02	/* the other side answered (not an ICMP error) */
#define F_IACK		0x04	/* the initiator sent past the handshake (TCP) */
#define F_RACK		0x08	/* the answering side acknowledged (TCP) */
#define F_TCP		0x10

#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_ACK		0x10

/* Four flows side by side, so that one compare finds a fingerprint. Times
 * are ticks of 1024 us ("ms" below), a shift away from packet time. */
struct fbucket {
	uint32_t fp[FWAYS];	/* key fingerprint; 0: free */
	uint32_t last[FWAYS];	/* last packet */
	uint32_t ans[FWAYS];	/* last answer (valid with F_ANS) */
	uint16_t peer_s[FWAYS];	/* tick >> 10 the peers were last told */
	uint8_t flags[FWAYS];
	uint8_t pad[4];
};
_Static_assert(sizeof(struct fbucket) == 64, "a bucket is one cache line");

struct peer {
	uint64_t fp;		/* 0: free */
	uint32_t t;		/* last two-way exchange */
	uint32_t pad;
};

struct flows {
	struct fbucket *fl;
	struct peer *pe;
	size_t fl_bytes, pe_bytes;
	uint32_t nb, npb;	/* flow and peer buckets */
	uint32_t timeout;	/* in ticks */
	uint64_t secret[4];
	uint64_t tracked, evicted;
};

int flows_new(uint32_t capacity, uint32_t timeout_ms, uint32_t seed, struct flows **out)
{
	struct flows *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->nb = (capacity + FWAYS - 1) / FWAYS;
	f->nb = f->nb ? f->nb : 1;
	f->npb = (f->nb + 3) / 4;
	f->timeout = (uint32_t)((uint64_t)timeout_ms * 1000 / 1024);
	f->secret[0] = mix64(seed ^ 0x243f6a8885a308d3ull) | 1;
	f->secret[1] = mix64(f->secret[0] ^ 0x13198a2e03707344ull) | 1;
	f->secret[2] = mix64(f->secret[1] ^ 0xa4093822299f31d0ull) | 1;
	f->secret[3] = mix64(f->secret[2] ^ 0x082efa98ec4e6c89ull) | 1;
	f->fl_bytes = (size_t)f->nb * sizeof(struct fbucket);
	f->pe_bytes = (size_t)f->npb * FWAYS * sizeof(struct peer);
	f->fl = bigmem_alloc(f->fl_bytes, BIGMEM_HOT);
	f->pe = bigmem_alloc(f->pe_bytes, BIGMEM_SPARSE);
	if (!f->fl || !f->pe) {
		flows_free(f);
		return -ENOMEM;
	}
	*out = f;
	return 0;
}

void flows_free(struct flows *f)
{
	if (!f)
		return;
	bigmem_free(f->fl, f->fl_bytes, BIGMEM_HOT);
	bigmem_free(f->pe, f->pe_bytes, BIGMEM_SPARSE);
	free(f);
}

/* A keyed hash of one endpoint: the address's words offset by secrets (the
 * port, spread by a secret multiplier, into the first), multiplied to 128
 * bits and folded. Not the port added to a hash of the address: the sum of
 * both endpoints' hashes would then keep only the sum of the ports. */
static inline uint64_t ep_hash(const struct flows *f, const struct ip_addr *a, uint16_t port)
{
	uint64_t w[2];

	memcpy(w, a->b, 16);
	w[0] ^= f->secret[0] ^ port * f->secret[3];
	w[1] ^= f->secret[1];
#ifdef FLOWS_INT128
	unsigned __int128 m = (unsigned __int128)w[0] * w[1];

	return (uint64_t)m ^ (uint64_t)(m >> 64);
#else
	return mix64(mix64(w[0]) ^ w[1]);
#endif
}

static inline struct fbucket *flow_bucket(const struct flows *f, uint64_t h)
{
	return &f->fl[((h >> 1 & 0xffffffffu) * f->nb) >> 32];
}

/* The sum of both endpoints' hashes is the same either way; bit 0 is
 * replaced by the sender's side (which endpoint hashes lower). The
 * bucket's line is asked for. */
static inline uint64_t flows_hash(const struct flows *f, const struct pkt *p,
				  struct fbucket **bucket)
{
	uint8_t proto = p->flags & PKT_ICMP_ERR ? p->inner_proto : p->proto;
	uint64_t hs = ep_hash(f, &p->src, p->sport), hd = ep_hash(f, &p->dst, p->dport);
	uint64_t h = mix64(hs + hd + proto * f->secret[2]);

	h = (h & ~1ull) | (hs > hd);
	*bucket = flow_bucket(f, h);
	__builtin_prefetch(*bucket, 1);
	return h;
}

static inline bool flow_live(const struct flows *f, const struct fbucket *b, unsigned w,
			     uint32_t now)
{
	return now - b->last[w] < f->timeout ||
	       ((b->flags[w] & F_ANS) && now - b->ans[w] < f->timeout);
}

/* The way a new flow takes in bucket b: a free or expired one, else the
 * least recently used of those never answered, else of all. */
#ifdef FLOWS_SSE2
/* The four ways side by side (a spoofed flood takes this for every packet):
 * unsigned compares are signed ones with the sign bit flipped. */
static __attribute__((noinline)) unsigned flow_victim(struct flows *f, struct fbucket *b,
						      uint32_t now)
{
	const __m128i sign = _mm_set1_epi32(INT32_MIN);
	__m128i nowv = _mm_set1_epi32((int)now);
	__m128i to = _mm_set1_epi32((int)(f->timeout ^ 0x80000000u));
	__m128i idle = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)b->last));
	__m128i aidle = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)b->ans));
	uint32_t fl4;
	int32_t k[FWAYS];
	__m128i fl, ans, live, key;
	unsigned dead, w;

	memcpy(&fl4, b->flags, 4);
	fl = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128((int)fl4), _mm_setzero_si128()),
				_mm_setzero_si128());
	ans = _mm_cmpeq_epi32(_mm_and_si128(fl, _mm_set1_epi32(F_ANS)), _mm_set1_epi32(F_ANS));
	live = _mm_or_si128(_mm_cmpgt_epi32(to, _mm_xor_si128(idle, sign)),
			    _mm_and_si128(ans, _mm_cmpgt_epi32(to, _mm_xor_si128(aidle, sign))));
	live = _mm_andnot_si128(_mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)b->fp),
						_mm_setzero_si128()), live);
	dead = ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(live)) & 0xf;
	if (dead) {
		w = (unsigned)__builtin_ctz(dead);
		f->tracked += b->fp[w] == 0;
		return w;
	}
	/* Live all: idle times (under the timeout, so below 2^31) ranked
	 * with the answered ones pushed below every unanswered one. */
	key = _mm_sub_epi32(idle, _mm_and_si128(ans, _mm_set1_epi32(0x40000000)));
	_mm_storeu_si128((__m128i *)k, key);
	w = k[1] > k[0];
	w = k[2] > k[w] ? 2 : w;
	w = k[3] > k[w] ? 3 : w;
	f->evicted++;
	return w;
}
#else
static __attribute__((noinline)) unsigned flow_victim(struct flows *f, struct fbucket *b,
						      uint32_t now)
{
	unsigned best = 0;
	uint64_t best_rank = 0;

	for (unsigned w = 0; w < FWAYS; w++) {
		uint64_t rank;

		if (!b->fp[w]) {
			f->tracked++;
			return w;
		}
		if (!flow_live(f, b, w, now))
			return w;
		rank = (uint64_t)!(b->flags[w] & F_ANS) << 32 | (uint32_t)(now - b->last[w]);
		if (rank > best_rank || w == 0) {
			best = w;
			best_rank = rank;
		}
	}
	f->evicted++;
	return best;
}
#endif

/* The ways of b whose fingerprint is fp, a bit each. */
static inline unsigned fp_match(const struct fbucket *b, uint32_t fp)
{
#ifdef FLOWS_SSE2
	__m128i v = _mm_loadu_si128((const __m128i *)b->fp);

	return (unsigned)_mm_movemask_ps(_mm_castsi128_ps(
		_mm_cmpeq_epi32(v, _mm_set1_epi32((int)fp))));
#else
	unsigned m = 0;

	for (unsigned w = 0; w < FWAYS; w++)
		m |= (unsigned)(b->fp[w] == fp) << w;
	return m;
#endif
}

/* A packet of a flow under way, from side side. */
static inline void flow_update(struct fbucket *b, unsigned w, const struct pkt *p,
			       unsigned side, uint32_t now, struct flow_info *fi)
{
	bool tcp = p->proto == 6;
	uint8_t fl = b->flags[w];

	b->last[w] = now;
	if ((fl & F_SIDE) == side) {
		fi->role = FLOW_INIT;
		fl |= tcp && (p->tcp_flags & (TCP_SYN | TCP_RST | TCP_ACK)) == TCP_ACK ? F_IACK : 0;
	} else {
		fi->role = FLOW_ANSWER;
		if (!(p->flags & PKT_ICMP_ERR)) {
			fl |= F_ANS;
			b->ans[w] = now;
		}
		fl |= tcp && (p->tcp_flags & (TCP_ACK | TCP_RST)) == TCP_ACK ? F_RACK : 0;
	}
	b->flags[w] = fl;
}

/* A new flow in way w of b: the sender spoke first. */
static __attribute__((noinline)) void flow_start(struct flows *f, struct fbucket *b, unsigned w,
						 uint32_t fp, const struct pkt *p,
						 unsigned side, uint32_t now)
{
	b->fp[w] = fp;
	b->last[w] = now;
	b->flags[w] = (uint8_t)(side | (p->proto == 6 ? F_TCP : 0));
	b->peer_s[w] = (uint16_t)((now >> 10) - 1);
}

static inline __attribute__((always_inline)) void
flows_packet(struct flows *f, const struct pkt *p, uint64_t h, struct fbucket *b,
	     uint64_t now_us, struct flow_info *fi)
{
	uint32_t fp = (uint32_t)(h >> 32) | 1, now = (uint32_t)(now_us >> 10);
	unsigned side = (unsigned)(h & 1), m = fp_match(b, fp), w;
	uint16_t now_s = (uint16_t)(now >> 10);
	uint8_t fl;

	fi->role = FLOW_NEW;
	fi->answered = false;
	fi->peer_due = false;
	w = (unsigned)__builtin_ctz(m | 0x10);
	if (__builtin_expect(!m || !flow_live(f, b, w, now), 0)) {
		flow_start(f, b, m ? w : flow_victim(f, b, now), fp, p, side, now);
		return;
	}
	flow_update(b, w, p, side, now, fi);
	fl = b->flags[w];
	fi->answered = (fl & F_ANS) && now - b->ans[w] < f->timeout;
	if (__builtin_expect(fl & F_TCP ? (fl & (F_IACK | F_RACK)) == (F_IACK | F_RACK)
				       : fi->answered, 0)) {
		fi->peer_due = b->peer_s[w] != now_s;
		b->peer_s[w] = now_s;
	}
}

/* Packets between hashing a flow (and asking for its line) and using it. */
#define FAHEAD 32

void flows_batch(struct flows *f, const struct pkt *p, const uint64_t *t, size_t n,
		 struct flow_info *fi)
{
	uint64_t h[FAHEAD];
	struct fbucket *b[FAHEAD];
	size_t i;

	for (i = 0; i < n; i++) {
		h[i % FAHEAD] = flows_hash(f, &p[i], &b[i % FAHEAD]);
		if (i >= FAHEAD - 1) {
			size_t j = i - (FAHEAD - 1);

			flows_packet(f, &p[j], h[j % FAHEAD], b[j % FAHEAD], t[j], &fi[j]);
		}
	}
	for (i = n > FAHEAD - 1 ? n - (FAHEAD - 1) : 0; i < n; i++)
		flows_packet(f, &p[i], h[i % FAHEAD], b[i % FAHEAD], t[i], &fi[i]);
}

static inline uint64_t peer_fp(const struct flows *f, const struct ip_addr *key)
{
	return ep_hash(f, key, 0) | 1;
}

static inline struct peer *peer_bucket(const struct flows *f, uint64_t fp)
{
	return &f->pe[(size_t)(((fp >> 32) * f->npb) >> 32) * FWAYS];
}

void flows_peer_touch(struct flows *f, const struct ip_addr *key, uint64_t now_us)
{
	uint32_t now_ms = (uint32_t)(now_us >> 10);
	uint64_t fp = peer_fp(f, key);
	struct peer *b = peer_bucket(f, fp), *e = &b[0];

	for (unsigned w = 0; w < FWAYS; w++) {
		if (b[w].fp == fp) {
			e = &b[w];
			break;
		}
		/* else the oldest (a free one is oldest of all) */
		if (!b[w].fp || (e->fp && now_ms - b[w].t > now_ms - e->t))
			e = &b[w];
	}
	e->fp = fp;
	e->t = now_ms;
}

bool flows_peer(const struct flows *f, const struct ip_addr *key, uint64_t now_us)
{
	uint32_t now_ms = (uint32_t)(now_us >> 10);
	uint64_t fp = peer_fp(f, key);
	const struct peer *b = peer_bucket(f, fp);

	for (unsigned w = 0; w < FWAYS; w++)
		if (b[w].fp == fp)
			return now_ms - b[w].t < f->timeout;
	return false;
}

void flows_counts(const struct flows *f, uint64_t *tracked, uint64_t *evicted)
{
	*tracked = f->tracked;
	*evicted = f->evicted;
}
