/* capture.c - libpcap as an event source: live ring or file, one path. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <inttypes.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "pcapng.h"
#include "routes.h"
#include "savefile.h"

/* A live wake-up drains at most this many dispatch rounds before letting
 * the loop run its timers and flush bans; epoll is level-triggered, so what
 * is left wakes us again at once. */
#define LIVE_ROUNDS 64
/* Packets per idle callback when replaying a file: big enough to amortise
 * the loop, small enough that timers and signals stay responsive. */
#define FILE_BATCH 4096
/* Decoded packets handed on together to a batch callback: enough that
 * detect's look ahead (see detect_batch) seldom starts over, few enough
 * (56 KiB) to stay in the second-level cache. */
#define PKT_BATCH 1024
/* How often a capture whose device went down looks whether it is still
 * there (see capture_live_cb). */
#define LINK_CHECK_S 0.25
/* With capture_wait = auto, how often a busy capture is read (see
 * capture_poll_cb). */
#define POLL_S 0.001

struct capture {
	struct ev_loop *loop;
	pcap_t *p;
	int dlt;
	ev_io io;           /* live */
	ev_timer link_check; /* live, while the device may be down or gone */
	ev_timer poll;      /* live, auto wait: reads while packets keep coming */
	char iface[IF_NAMESIZE];
	unsigned ifindex;
	ev_idle idle;       /* file replay */
	capture_batch_cb batch_cb;
	capture_eof_cb eof;
	void *ctx;
	struct capture_stats st;	/* but the per-family and protocol counts: */
	uint64_t fam[2];		/* IPv4, IPv6 */
	uint64_t proto[5];		/* see proto_slot */
	uint64_t proto_bytes[5];	/* their IP lengths */
	int failed;         /* live capture broke (see capture_failed) */
	char error[PCAP_ERRBUF_SIZE];   /* why capture ended early, or "" */
	struct pcapng_dir *ng;	/* a pcapng replay's recorded directions */
	struct savefile *sf;	/* a classic file's reader, until it hands
				   the rest to libpcap (see savefile.c) */
	unsigned nbatch;
	struct pkt batch[PKT_BATCH];
};

/* capture.proto's counter of each protocol: other, tcp, udp, icmp, icmp6. */
static const uint8_t proto_slot[256] = {
	[IPPROTO_TCP] = 1, [IPPROTO_UDP] = 2, [IPPROTO_ICMP] = 3, [IPPROTO_ICMPV6] = 4,
};

/* Indexed counts, no branch: families and protocols come mixed. */
static inline void capture_count(struct capture *c, const struct pkt *p)
{
	c->fam[p->family != AF_INET]++;
	c->st.frags += (p->flags & PKT_FRAG) != 0;
	c->proto[proto_slot[p->proto]]++;
	c->proto_bytes[proto_slot[p->proto]] += p->len;
}

/* Hands the packets decoded so far to the batch callback. Called after
 * every pcap_dispatch, so no packet waits past the round that read it. */
static void capture_flush(struct capture *c)
{
	unsigned n = c->nbatch;

	if (n) {
		c->nbatch = 0;
		c->batch_cb(c->batch, n, c->ctx);
	}
}

static void capture_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct capture *c = (struct capture *)user;
	struct pkt *p = &c->batch[c->nbatch];
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
	enum decode_result r = decode_packet(c->dlt, bytes, h->caplen, h->len, ts, p);

	/* Every frame takes its block's direction, to stay in step; one a
	 * link header gave (SLL) stands. */
	if (__builtin_expect(c->ng != NULL, 0)) {
		uint8_t dir = pcapng_dir_next(c->ng, h->len);

		p->dir = p->dir ? p->dir : dir;
	}
	c->st.frames++;
	c->st.bytes += h->len;
	c->st.decoded[r]++;
	if (r != DEC_OK && r < DEC_SRC_BOGUS)
		return;
	/* A bogus source's packet is an IP packet all the same, counted as
	 * tcpdump would, but never detected on. */
	capture_count(c, p);
	if (r != DEC_OK)
		return;
	if (++c->nbatch == PKT_BATCH)
		capture_flush(c);
}

/* Live capture ends here: the fd would stay readable and spin the loop.
 * Stop, and let a supervisor restart us (the bans live on in the kernel
 * meanwhile). */
static void capture_fail(struct capture *c, const char *why)
{
	snprintf(c->error, sizeof(c->error), "capture: %s", why);
	c->failed = 1;
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->poll);
	ev_timer_stop(c->loop, &c->link_check);
	if (c->eof)
		c->eof(c->ctx);
}

/* Reads what the ring holds: > 0 packets were read, 0 none, < 0 the
 * capture failed (and has been stopped). */
static int capture_drain(struct capture *c)
{
	int got = 0;

	c->st.reads++;
	for (int i = 0; i < LIVE_ROUNDS; i++) {
		int n = pcap_dispatch(c->p, -1, capture_frame, (u_char *)c);

		capture_flush(c);
		if (n == PCAP_ERROR) {
			capture_fail(c, pcap_geterr(c->p));
			return -1;
		}
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

/* Whether the device we capture on is up (1), down (0) or gone (-1): gone
 * also when its name now belongs to another device. "any" is always up. */
static int capture_link_state(const struct capture *c)
{
	struct ifreq ifr = { 0 };

	if (!c->ifindex)
		return 1;
	if (if_nametoindex(c->iface) != c->ifindex)
		return -1;
	memcpy(ifr.ifr_name, c->iface, sizeof(c->iface));
	if (ioctl(pcap_fileno(c->p), SIOCGIFFLAGS, &ifr) < 0)
		return errno == ENODEV ? -1 : 1;
	return (ifr.ifr_flags & IFF_UP) != 0;
}

/* Watches a device that went down until it is up again or gone. */
static void capture_link_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct capture *c = w->data;
	int st;

	if (capture_drain(c) < 0)
		return;
	if ((st = capture_link_state(c)) < 0)
		capture_fail(c, "The interface disappeared");
	else if (st > 0)
		ev_timer_stop(loop, w);
}

/* The auto wait (capture_wait = auto), as network drivers do it (NAPI):
 * a quiet capture wakes us at its first packet, read at once; as long as
 * reads keep finding packets, the fd is left alone and a timer reads every
 * POLL_S instead, until a read finds none. In immediate mode every packet
 * wakes us (~2.5 us of CPU a packet at 100 kpps, bench-live); this way a
 * busy capture is read about a thousand times a second (~0.35 us a
 * packet), a packet waits at most about POLL_S, and one that comes alone
 * not at all. Kernel blocks (capture_wait = 1ms) cost a fifth less (~0.27
 * us) but hold every packet up to a clock tick or two, busy or not. */
static void capture_live_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct capture *c = w->data;
	int n = capture_drain(c);

	/* Woken with nothing to read is how the kernel says the device went
	 * down (libpcap takes the error and returns 0). Its removal may come
	 * after that and then wakes no one: look for it until the device is
	 * up again or gone. */
	if (n == 0 && !ev_is_active(&c->link_check))
		ev_timer_start(loop, &c->link_check);
	if (n > 0 && c->poll.repeat > 0) {
		ev_io_stop(loop, w);
		ev_timer_again(loop, &c->poll);
	}
}

/* A busy capture's read (see capture_live_cb); one that finds nothing
 * hands the capture back to the fd. */
static void capture_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct capture *c = w->data;
	int n = capture_drain(c);

	if (n < 0)
		return;		/* failed: stopped */
	if (n == 0) {
		ev_timer_stop(loop, w);
		ev_io_start(loop, &c->io);
	}
}

/* Says, as a replay's warning, that the pcapng walker lost step. */
static void capture_ng_lost(struct capture *c)
{
	if (c->ng && pcapng_dir_lost(c->ng))
		snprintf(c->error, sizeof(c->error),
			 "replay: the pcapng packet flags could not be followed after %" PRIu64
			 " packets with a direction: the rest replays without one",
			 pcapng_dir_flagged(c->ng));
}

/* A replay's round: the savefile reader's while it reads, then libpcap's
 * from where it stopped (at once, in the same round). */
static int capture_file_read(struct capture *c)
{
	int n;

	if (c->sf) {
		if ((n = savefile_dispatch(c->sf, FILE_BATCH, capture_frame, (u_char *)c)) > 0)
			return n;
		savefile_close(c->sf);
		c->sf = NULL;
		if (n < 0) {
			snprintf(c->error, sizeof(c->error), "replay: cannot seek: %s",
				 strerror(-n));
			return -1;
		}
	}
	n = pcap_dispatch(c->p, FILE_BATCH, capture_frame, (u_char *)c);
	/* A truncated last record is how many captures end: say so, but it
	 * is the end of the file like any other. */
	if (n == PCAP_ERROR)
		snprintf(c->error, sizeof(c->error), "replay: %s", pcap_geterr(c->p));
	else if (n == 0)
		capture_ng_lost(c);
	return n;
}

static void capture_file_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct capture *c = w->data;
	int n = capture_file_read(c);

	capture_flush(c);
	if (n <= 0) {
		ev_idle_stop(loop, w);
		if (c->eof)
			c->eof(c->ctx);
	}
}

/* Turns pcap_activate's failure into a sentence naming the cause. */
static void live_error(pcap_t *p, int r, const char *iface, char *err, size_t len)
{
	const char *detail = pcap_geterr(p);

	switch (r) {
	case PCAP_ERROR_PERM_DENIED:
		snprintf(err, len, "capturing on %s needs root or CAP_NET_RAW (%s)", iface, detail);
		break;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		snprintf(err, len, "no such interface: %s", iface);
		break;
	case PCAP_ERROR_IFACE_NOT_UP:
		snprintf(err, len, "interface %s is down", iface);
		break;
	default:
		snprintf(err, len, "cannot capture on %s: %s", iface,
			 *detail ? detail : pcap_statustostr(r));
	}
}

/* libpcap has no word for PACKET_FANOUT: it is set on its AF_PACKET socket
 * (pcap_fileno, bound to the interface by pcap_activate). Every member
 * joins group fanout_id with the same type; the program, given once the
 * socket is a member, applies to the whole group and returns the member
 * index (taken modulo the members there are, in the order they joined).
 * The program runs before the socket's own filter, on the packet as the
 * stack has it: see workers.c for what it may load. */
static int capture_fanout(struct capture *c, const struct capture_cfg *cfg)
{
	int fd = pcap_fileno(c->p);
	int arg = cfg->fanout_id | PACKET_FANOUT_CBPF << 16;

	if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, cfg->fanout_prog,
		       sizeof(*cfg->fanout_prog)) < 0)
		return -errno;
	return 0;
}

static int capture_live(struct capture *c, const struct capture_cfg *cfg, char *err,
			size_t len)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	bool sll2;
	int r;

	if (!(c->p = pcap_create(cfg->iface, ebuf)))
		return snprintf(err, len, "cannot capture on %s: %s", cfg->iface, ebuf), -ENODEV;
	pcap_set_snaplen(c->p, (int)cfg->snaplen);
	/* Immediate mode wakes us per packet (TPACKET_V2): the least latency,
	 * ~2.5 us of CPU a packet at 100 kpps, unless the auto wait reads a
	 * busy capture on a timer instead (see capture_live_cb). A wait lets
	 * the kernel fill TPACKET_V3 blocks for up to wait_ms (in jiffies)
	 * before waking us: a tenth of that CPU, a ban that much later. */
	if (cfg->wait_ms && cfg->wait_ms != CAPTURE_WAIT_AUTO) {
		pcap_set_immediate_mode(c->p, 0);
		pcap_set_timeout(c->p, (int)cfg->wait_ms);
	} else {
		pcap_set_immediate_mode(c->p, 1);
	}
	pcap_set_buffer_size(c->p, (int)(cfg->buffer_kb * 1024));
	pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_MICRO);
	if ((r = pcap_activate(c->p)) < 0) {
		live_error(c->p, r, cfg->iface, err, len);
		return r == PCAP_ERROR_PERM_DENIED ? -EPERM : -ENODEV;
	}
	/* Both ways (detect needs the host's answers), in Linux cooked v2
	 * frames that say which way each went where the device offers them;
	 * else the host's own addresses tell (see detect_cfg.local). */
	sll2 = cfg->both_ways && pcap_set_datalink(c->p, DLT_LINUX_SLL2) == 0;
	if (cfg->inbound_only && pcap_setdirection(c->p, PCAP_D_IN) < 0)
		return snprintf(err, len, "%s: %s", cfg->iface, pcap_geterr(c->p)), -EINVAL;
	/* Cooked frames carry VLAN tags aside, not in the frame. */
	if (pcap_compile(c->p, &prog, sll2 ? "ip or ip6" : "ip or ip6 or vlan", 1,
			 PCAP_NETMASK_UNKNOWN) < 0 ||
	    pcap_setfilter(c->p, &prog) < 0)
		return snprintf(err, len, "%s: filter: %s", cfg->iface, pcap_geterr(c->p)), -EINVAL;
	pcap_freecode(&prog);
	if (pcap_setnonblock(c->p, 1, ebuf) < 0 || pcap_get_selectable_fd(c->p) < 0)
		return snprintf(err, len, "%s: cannot poll the capture", cfg->iface), -EINVAL;
	if (cfg->fanout_prog && (r = capture_fanout(c, cfg)) < 0)
		return snprintf(err, len, "%s: cannot join fanout group %u: %s", cfg->iface,
				cfg->fanout_id, strerror(-r)), r;
	ev_io_init(&c->io, capture_live_cb, pcap_get_selectable_fd(c->p), EV_READ);
	c->io.data = c;
	snprintf(c->iface, sizeof(c->iface), "%s", cfg->iface);
	c->ifindex = if_nametoindex(cfg->iface);
	ev_timer_init(&c->link_check, capture_link_cb, LINK_CHECK_S, LINK_CHECK_S);
	c->link_check.data = c;
	ev_init(&c->poll, capture_poll_cb);
	c->poll.repeat = cfg->wait_ms == CAPTURE_WAIT_AUTO ? POLL_S : 0;
	c->poll.data = c;
	ev_io_start(c->loop, &c->io);
	return 0;
}

static int capture_file(struct capture *c, const struct capture_cfg *cfg, char *err,
			size_t len)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";

	c->p = pcap_open_offline_with_tstamp_precision(cfg->file,
						       PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!c->p)
		return snprintf(err, len, "cannot read %s: %s", cfg->file, ebuf), -EINVAL;
	(void)pcapng_dir_open(cfg->file, &c->ng);
	if (!c->ng)
		(void)savefile_open(c->p, &c->sf);
	ev_idle_init(&c->idle, capture_file_cb);
	c->idle.data = c;
	ev_idle_start(c->loop, &c->idle);
	return 0;
}

int capture_open(struct ev_loop *loop, const struct capture_cfg *cfg, capture_batch_cb cb,
		 capture_eof_cb eof, void *ctx, struct capture **out,
		 char *err, size_t errlen)
{
	struct capture *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->batch_cb = cb;
	c->eof = eof;
	c->ctx = ctx;
	r = cfg->file ? capture_file(c, cfg, err, errlen) : capture_live(c, cfg, err, errlen);
	if (r < 0)
		goto fail;
	c->dlt = pcap_datalink(c->p);
	/* A live interface we cannot decode is a mistake to stop on; a file
	 * is still replayed so that its report says what it held. */
	if (!decode_link_supported(c->dlt) && !cfg->file) {
		snprintf(err, errlen, "%s: link type %s is not supported", cfg->iface,
			 capture_link_name(c));
		r = -ENOTSUP;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	capture_close(c);
	return r;
}

const char *capture_error(const struct capture *c)
{
	return c->error;
}

int capture_failed(const struct capture *c)
{
	return c->failed;
}

int capture_dlt(const struct capture *c)
{
	return c->dlt;
}

const char *capture_link_name(const struct capture *c)
{
	const char *n = pcap_datalink_val_to_name(c->dlt);

	return n ? n : "unknown";
}

void capture_get_stats(struct capture *c, struct capture_stats *st)
{
	struct pcap_stat ps;

	if ((ev_is_active(&c->io) || ev_is_active(&c->poll)) && pcap_stats(c->p, &ps) == 0) {
		c->st.have_kernel = 1;
		c->st.kernel_recv = ps.ps_recv;
		c->st.kernel_drop = ps.ps_drop;
		c->st.iface_drop = ps.ps_ifdrop;
	}
	c->st.ipv4 = c->fam[0];
	c->st.ipv6 = c->fam[1];
	c->st.other = c->proto[0];
	c->st.tcp = c->proto[1];
	c->st.udp = c->proto[2];
	c->st.icmp = c->proto[3];
	c->st.icmp6 = c->proto[4];
	memcpy(c->st.proto_bytes, c->proto_bytes, sizeof(c->proto_bytes));
	if (c->ng) {
		c->st.have_file_dir = 1;
		c->st.file_dir = pcapng_dir_flagged(c->ng);
	}
	*st = c->st;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	if (ev_is_active(&c->io))
		ev_io_stop(c->loop, &c->io);
	if (ev_is_active(&c->link_check))
		ev_timer_stop(c->loop, &c->link_check);
	if (ev_is_active(&c->poll))
		ev_timer_stop(c->loop, &c->poll);
	if (ev_is_active(&c->idle))
		ev_idle_stop(c->loop, &c->idle);
	if (c->p)
		pcap_close(c->p);
	pcapng_dir_close(c->ng);
	savefile_close(c->sf);
	free(c);
}

int capture_default_iface(char *name, size_t len)
{
	return routes_default_iface(ROUTES_V4, ROUTES_V6, name, len);
}
