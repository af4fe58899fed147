/* main.c - the command line, the wiring of the modules, and the loop. */
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abuseipdb.h"
#include "capture.h"
#include "config.h"
#include "bgp.h"
#include "crowdsec.h"
#include "ctl.h"
#include "detect.h"
#include "events.h"
#include "feeds.h"
#include "fw.h"
#include "fw_feeds.h"
#include "hooks.h"
#include "http.h"
#include "jsonl.h"
#include "log.h"
#include "metrics.h"
#include "mitigate.h"
#include "netwatch.h"
#include "notify.h"
#include "privs.h"
#include "stats.h"
#include "store.h"
#include "tune.h"
#include "webclient.h"
#include "whitelist.h"
#include "workers.h"

#define EXIT_USAGE 2
#define DEFAULT_CONFIG SYSCONFDIR "/dosips/dosips.conf"

struct opts {
	const char *config;      /* -c, or NULL for the default if present */
	const char *replay;      /* -r */
	int dry_run, check, flush, verbose;
	bool whitelist_given;
	bool history_given;      /* --history: the only history a replay writes */
	/* Command-line settings, applied over the file in order. */
	struct config_setting set[32];
	int nset;
};

struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct config_source src;   /* what a reload reads again */
	struct opts *opts;
	struct capture *cap;        /* NULL when live workers capture */
	struct detect *det;         /* NULL with workers */
	struct workers *wk;         /* workers > 1 */
	struct mitigate *mit;
	struct whitelist *wl;       /* the protected set: wl_file and this host */
	struct whitelist *wl_file;  /* the whitelist file alone */
	struct netwatch *netwatch;  /* keeps this host's part of wl current */
	struct events *ev;          /* the bus */
	struct jsonl *jsonl;        /* the JSON-lines file, a subscriber */
	struct store *store;        /* the history, a subscriber (or NULL) */
	struct ratelimit *log_rl;   /* the log subscriber's limiter */
	struct fw *fw;
	struct fw_feeds *fwf;       /* feed sets, NULL in a dry run */
	struct feeds *feeds;
	struct abuseipdb *abuse;    /* NULL without abuseipdb_key_file */
	ev_timer drain;             /* a replay's end waits for answers */
	double drain_until;
	struct hooks *hooks;
	struct notify *notify;      /* the notifiers, a subscriber */
	struct ctl *ctl;
	struct webclient *web;      /* HTTP: feeds, AbuseIPDB, fleet links; NULL if none */
	struct crowdsec *crowdsec;
	struct bgp *bgp;            /* FlowSpec upstream, or NULL */
	struct ctl_view view;
	struct metrics *metrics;    /* a subscriber, read by /metrics */
	struct http *http;          /* NULL unless http_listen */
	struct http_view hview;
	char *tuned;                /* configuration text tuned from the page, unsaved */
	ev_timer linger;            /* a replay's HTTP side, after the end */
	ev_signal sig_int, sig_term, sig_usr1, sig_hup;
	ev_prepare flush;
	ev_io monitor;
	ev_timer tick;              /* "suppressed" summaries, live only */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dosips [-i IFACE] [--ban SECONDS] [-w FILE] [-c FILE] [--dry-run]\n"
		"              [--events FILE] [--history FILE] [--hook HOOK] [--local CIDR]\n"
		"              [-v] [-n] [-r FILE] [--flush]\n"
		"  -i, --interface IFACE  watch IFACE (default: the default route's)\n"
		"      --ban DURATION     first ban length (default 60s)\n"
		"  -w, --whitelist FILE   never ban these addresses/CIDRs\n"
		"  -c, --config FILE      configuration (default " SYSCONFDIR "/dosips/dosips.conf)\n"
		"  -r, --read FILE        replay a capture file instead of a live interface\n"
		"      --dry-run          decide and report; touch no firewall\n"
		"      --events FILE      JSON lines of every event to FILE (- for stdout)\n"
		"      --history FILE     SQLite history of every event (\"\" for none)\n"
		"      --hook HOOK        drop point: ingress (default), prerouting, input, forward\n"
		"      --local CIDR[,...] this host's addresses: their packets are never a subject\n"
		"      --syslog           log to syslog instead of stderr\n"
		"      --flush            remove dosips's nftables table and exit\n"
		"  -n, --check            check configuration and whitelist, then exit\n"
		"  -v, --verbose          more detail: set-up steps, privileges, control clients\n"
		"  -h, --help             this help\n"
		"      --version          print the version\n");
}

/* Records an option that maps to a config key; applied after the file. */
static void opt_set(struct opts *o, const char *key, const char *opt, const char *value)
{
	if (o->nset == (int)(sizeof(o->set) / sizeof(o->set[0]))) {
		fprintf(stderr, "dosips: too many options\n");
		exit(EXIT_USAGE);
	}
	o->set[o->nset].key = key;
	o->set[o->nset].opt = opt;
	o->set[o->nset++].value = value;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_BAN = 256, O_DRY, O_EVENTS, O_VERSION, O_HOOK, O_FLUSH, O_SYSLOG, O_HISTORY,
	       O_LOCAL };
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "ban", required_argument, NULL, O_BAN },
		{ "whitelist", required_argument, NULL, 'w' },
		{ "config", required_argument, NULL, 'c' },
		{ "read", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "events", required_argument, NULL, O_EVENTS },
		{ "history", required_argument, NULL, O_HISTORY },
		{ "hook", required_argument, NULL, O_HOOK },
		{ "local", required_argument, NULL, O_LOCAL },
		{ "syslog", no_argument, NULL, O_SYSLOG },
		{ "flush", no_argument, NULL, O_FLUSH },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:w:c:r:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': opt_set(o, "interface", "-i", optarg); break;
		case O_BAN: opt_set(o, "ban", "--ban", optarg); break;
		case 'w': opt_set(o, "whitelist", "-w", optarg); o->whitelist_given = true; break;
		case O_EVENTS: opt_set(o, "events", "--events", optarg); break;
		case O_HISTORY:
			opt_set(o, "history", "--history", optarg);
			o->history_given = true;
			break;
		case O_HOOK: opt_set(o, "hook", "--hook", optarg); break;
		case O_LOCAL: opt_set(o, "local", "--local", optarg); break;
		case O_SYSLOG: opt_set(o, "syslog", "--syslog", "yes"); break;
		case 'c': o->config = optarg; break;
		case 'r': o->replay = optarg; break;
		case O_DRY: o->dry_run = 1; break;
		case O_FLUSH: o->flush = 1; break;
		case 'n': o->check = 1; break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: printf("dosips %s\n", DOSIPS_VERSION); exit(0);
		case ':':
			fprintf(stderr, "dosips: option %s needs a value\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		default:
			fprintf(stderr, "dosips: unknown option %s (try -h)\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dosips: unexpected argument %s (try -h)\n", argv[optind]);
		exit(EXIT_USAGE);
	}
}

/* Live, with no `local` setting, this host's own addresses are local:
 * capture sees both directions, and the host's packets must be told from
 * those it receives (detect never counts them against it). */
static void host_local(struct detect_cfg *dc, const struct opts *o)
{
	struct ifaddrs *ifa, *i;

	if (o->replay || dc->nlocal || getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && dc->nlocal < DETECT_LOCAL_MAX; i = i->ifa_next) {
		struct ip_prefix *p = &dc->local[dc->nlocal];

		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			addr_from_v4(&p->addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr);
		else if (i->ifa_addr->sa_family == AF_INET6)
			addr_from_v6(&p->addr, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr);
		else
			continue;
		p->len = 128;
		dc->nlocal++;
	}
	freeifaddrs(ifa);
}

/* Defaults, then the file, then the command line (config_build, which a
 * reload repeats). Exits on any error: 2 for a bad option value, 1 for a
 * bad file. */
static void load_config(struct daemon *d, const struct opts *o)
{
	char err[CONFIG_PATH_MAX + 128];
	const char *why;

	/* Option values alone first, so that their errors are usage errors. */
	config_defaults(&d->cfg);
	for (int i = 0; i < o->nset; i++) {
		if (config_set(&d->cfg, o->set[i].key, o->set[i].value, &why) < 0) {
			fprintf(stderr, "dosips: %s %s: %s\n", o->set[i].opt, o->set[i].value, why);
			exit(EXIT_USAGE);
		}
	}
	d->src = (struct config_source){
		.path = o->config ? o->config : DEFAULT_CONFIG, .must_exist = o->config != NULL,
		.set = o->set, .nset = o->nset,
	};
	if (config_build(&d->cfg, &d->src, err, sizeof(err)) < 0) {
		fprintf(stderr, "dosips: %s\n", err);
		exit(1);
	}
	host_local(&d->cfg.detect, o);
}

/* The protected set: the file's prefixes and the host's own addresses,
 * loopback and default gateways as they are now, which are never banned
 * whatever the file says. Rebuilt whenever rtnetlink reports a change. */
static int build_protected(const struct whitelist *file, struct whitelist **out, char *err,
			   size_t errlen)
{
	struct whitelist *wl;
	const struct ip_prefix *p;
	size_t n;
	int r;

	if ((r = whitelist_new(&wl)) < 0) {
		snprintf(err, errlen, "whitelist: %s", strerror(-r));
		return r;
	}
	p = whitelist_entries(file, &n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = whitelist_add(wl, &p[i]);
	if (r == 0 && (r = whitelist_add_local(wl)) < 0)
		snprintf(err, errlen, "cannot list this host's addresses: %s", strerror(-r));
	else if (r < 0)
		snprintf(err, errlen, "whitelist: %s", strerror(-r));
	if (r < 0) {
		whitelist_free(wl);
		return r;
	}
	*out = wl;
	return 0;
}

/* Reads the whitelist file (a missing default file is fine) into *file
 * and builds the protected set from it into *out. */
static int load_whitelist(const struct config *cfg, bool must_exist, struct whitelist **file,
			  struct whitelist **out, char *err, size_t errlen)
{
	struct whitelist *wl;
	int r;

	if ((r = whitelist_new(&wl)) < 0) {
		snprintf(err, errlen, "whitelist: %s", strerror(-r));
		return r;
	}
	if (((must_exist || access(cfg->whitelist, F_OK) == 0) &&
	     (r = whitelist_load(wl, cfg->whitelist, err, errlen)) < 0) ||
	    (r = build_protected(wl, out, err, errlen)) < 0) {
		whitelist_free(wl);
		return r;
	}
	*file = wl;
	return 0;
}

/* One line of the report being built: a group's counters. */
struct report_line {
	enum stats_group group;
	char text[2048];
	size_t n;
};

static void report_flush(struct report_line *l)
{
	if (l->n)
		log_info("report:%s", l->text);
	l->n = 0;
}

static void report_kv(enum stats_group g, const char *key, uint64_t value, void *ctx)
{
	struct report_line *l = ctx;

	/* A line per group, and per worker. */
	if (g != l->group || (g == STATS_WORKERS && strstr(key, ".packets")))
		report_flush(l);
	l->group = g;
	if (l->n < sizeof(l->text))
		l->n += (size_t)snprintf(l->text + l->n, sizeof(l->text) - l->n,
					 " %s=%" PRIu64, key, value);
}

/* The report SIGUSR1 asks for and every exit gives: a line per group of
 * key=value counters (the names of dosipsctl stats), so a person can read
 * it and a test can parse it. */
static void report(struct daemon *d)
{
	struct report_line l = { .group = STATS_CAPTURE };

	stats_collect(&d->view, report_kv, &l);
	report_flush(&l);
	if (d->abuse) {
		struct abuseipdb_stats as;

		abuseipdb_get_stats(d->abuse, &as);
		log_info("report: abuseipdb.requests=%" PRIu64 " abuseipdb.answers=%" PRIu64
			 " abuseipdb.errors=%" PRIu64 " abuseipdb.cache_hits=%" PRIu64
			 " abuseipdb.skipped_reserved=%" PRIu64 " abuseipdb.skipped_quota=%" PRIu64
			 " abuseipdb.reports=%" PRIu64 " abuseipdb.used_today=%u abuseipdb.limit=%u",
			 as.requests, as.answers, as.errors, as.cache_hits, as.skipped_reserved,
			 as.skipped_quota, as.reports, as.used_today, as.limit);
	}
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	report(w->data);
}

/* Runs before the loop sleeps: every ban decided in this iteration goes to
 * the kernel in one netlink batch. */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct daemon *d = w->data;

	mitigate_flush(d->mit);
}

/* The monitor's verdict: our table lost (and re-made empty) means every
 * ban and feed goes in again. */
static void check_table(struct daemon *d)
{
	int r = fw_monitor_check(d->fw);

	if (r == 1) {
		log_warn("table inet %s was removed by someone else: restored with %u bans",
			 d->cfg.table, mitigate_count(d->mit));
		mitigate_restore(d->mit);
		mitigate_flush(d->mit);
		feeds_restore(d->feeds);
	} else if (r < 0) {
		log_err("nftables monitor: %s", strerror(-r));
	}
}

static void on_monitor(struct ev_loop *loop, ev_io *w, int revents)
{
	check_table(w->data);
}

/* After a feed load the monitor had left the nftables group: look. */
static void on_feed_loaded(void *ctx)
{
	struct daemon *d = ctx;

	fw_monitor_missed(d->fw);
	check_table(d);
}

static void on_packets(const struct pkt *p, size_t n, void *ctx)
{
	struct daemon *d = ctx;

	if (d->wk)
		workers_feed(d->wk, p, n);
	else
		detect_batch(d->det, p, n);
	/* A ban decided in this batch goes out now, not after the rest of a
	 * busy wake-up's rounds: at 70 kpps that saves milliseconds. A commit
	 * with nothing queued costs nothing. */
	mitigate_flush(d->mit);
}

static void on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void on_drain(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	if (webclient_pending(d->web) && ev_now(loop) < d->drain_until)
		return;
	ev_timer_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

static void on_eof(void *ctx)
{
	struct daemon *d = ctx;

	/* A replay's truncated last record is how many captures end: a
	 * warning; live capture that broke is an error (exit status 1). */
	if (*capture_error(d->cap)) {
		if (capture_failed(d->cap))
			log_err("%s", capture_error(d->cap));
		else
			log_warn("%s", capture_error(d->cap));
	}
	/* Enrichment answers still on their way belong to this replay's
	 * events: wait for them, 10 s at most. */
	if (d->abuse && d->web && webclient_pending(d->web)) {
		d->drain_until = ev_now(d->loop) + 10;
		ev_timer_init(&d->drain, on_drain, 0.05, 0.05);
		d->drain.data = d;
		ev_timer_start(d->loop, &d->drain);
		return;
	}
	/* A replay's figures stay readable over HTTP for http_linger. */
	if (d->http && d->opts->replay && d->cfg.http_linger_s && !capture_failed(d->cap)) {
		log_info("replay done; serving HTTP for %us more", d->cfg.http_linger_s);
		ev_timer_init(&d->linger, on_linger, d->cfg.http_linger_s, 0.);
		ev_timer_start(d->loop, &d->linger);
		return;
	}
	ev_break(d->loop, EVBREAK_ALL);
}

/* A worker's live capture broke: as on_eof, exit status 1. */
static void on_workers_eof(void *ctx)
{
	struct daemon *d = ctx;

	log_err("%s", workers_error(d->wk));
	ev_break(d->loop, EVBREAK_ALL);
}

/* Summaries of what the limiters held back, once their window is over. */
static void flush_summaries(struct daemon *d, uint64_t now_us)
{
	events_log_tick(d->log_rl, now_us);
	jsonl_tick(d->jsonl, now_us);
	hooks_tick(d->hooks, now_us);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	flush_summaries(w->data, (uint64_t)(ev_now(loop) * 1e6));
}

static void watch_signal(struct daemon *d, ev_signal *w, int sig,
			 void (*cb)(struct ev_loop *, ev_signal *, int))
{
	ev_signal_init(w, cb, sig);
	w->data = d;
	ev_signal_start(d->loop, w);
	ev_unref(d->loop); /* signals alone must not keep a replay's loop alive */
}

/* Opens the firewall backend; a person gets the reason in words. */
static int open_fw(struct daemon *d)
{
	struct fw_cfg fc = {
		.table = d->cfg.table, .iface = d->cfg.iface, .hook = d->cfg.hook,
		.set_size = d->cfg.set_size, .priority = -300, .open_only = d->opts->flush,
	};
	char err[512];
	int r;

	if (d->opts->dry_run)
		return fw_open_null(&d->fw);
	if ((r = fw_open_nft(&fc, &d->fw, err, sizeof(err))) == -EPERM)
		log_err("changing nftables needs root or CAP_NET_ADMIN (or use --dry-run)");
	else if (r < 0)
		log_err("nftables: cannot set up table inet %s: %s", d->cfg.table, err);
	else if (d->cfg.nnamed && (r = fw_feeds_open(&fc, fw_monitor_fd(d->fw), &d->fwf)) < 0)
		log_err("nftables: feeds socket: %s", strerror(-r));
	else
		log_debug("nftables: table inet %s, drop on the %s hook%s%s", d->cfg.table,
			  fw_hook_name(d->cfg.hook), d->cfg.hook == FW_HOOK_INGRESS ? " of " : "",
			  d->cfg.hook == FW_HOOK_INGRESS ? d->cfg.iface : "");
	return r;
}

/* Verdicts go to mitigate, made after the capture (see daemon_setup):
 * none comes before the loop runs. */
static void on_verdict(const struct verdict *v, void *ctx)
{
	struct daemon *d = ctx;

	mitigate_verdict(v, d->mit);
}

_Static_assert(CONFIG_WAIT_AUTO == CAPTURE_WAIT_AUTO, "capture_wait = auto passes through");

/* One detect, or workers: live, they capture too; replayed, they are fed
 * by the one capture. */
static int open_capture(struct daemon *d)
{
	char err[512];
	struct capture_cfg cc = {
		.iface = d->cfg.iface, .file = d->opts->replay, .snaplen = d->cfg.snaplen,
		.buffer_kb = d->cfg.buffer_kb, .wait_ms = d->cfg.capture_wait_ms, .both_ways = 1,
	};
	unsigned n = d->cfg.workers ? d->cfg.workers : workers_auto();
	struct workers_cfg wc = { .n = n, .det = &d->cfg.detect, .cap = d->opts->replay ? NULL : &cc };
	int r = 0;

	if (n > 1)
		r = workers_new(d->loop, &wc, on_verdict, d, on_workers_eof, d, &d->wk, err,
				sizeof(err));
	else if ((r = detect_new(&d->cfg.detect, on_verdict, d, &d->det)) < 0)
		snprintf(err, sizeof(err), "detection: %s", strerror(-r));
	if (r == 0 && !(d->wk && !d->opts->replay))
		r = capture_open(d->loop, &cc, on_packets, on_eof, d, &d->cap, err, sizeof(err));
	if (r < 0)
		log_err("%s", err);
	return r;
}

static int allow_set(struct fw *fw, const struct whitelist *wl)
{
	size_t n;
	const struct ip_prefix *p = whitelist_entries(wl, &n);

	return fw_set_allow(fw, p, n);
}

/* The kernel's allow sets mirror the whitelist, so a whitelisted host is
 * let through even by a ban of the prefix around it. */
static int push_allow(struct daemon *d)
{
	int r = allow_set(d->fw, d->wl);

	if (r < 0)
		log_err("nftables: cannot load the whitelist: %s", strerror(-r));
	return r;
}

/* The one HTTP client (libcurl multi in the loop) that notifiers, feeds,
 * AbuseIPDB and the fleet links share, made when the first asks. */
static int web_client(struct daemon *d, char *err, size_t errlen)
{
	return d->web ? 0 : webclient_new(d->loop, &d->web, err, errlen);
}

/* Feeds: their last good copies now, downloads in the loop. Without a web
 * client only file feeds work, which feeds.c reports per feed. */
static int open_feeds(struct daemon *d)
{
	char err[512];
	int r;

	if (web_client(d, err, sizeof(err)) < 0)
		log_warn("web client: %s: url feeds cannot refresh", err);
	if ((r = feeds_new(d->loop, &d->cfg, d->fwf, d->web, d->wl, &d->feeds, err,
			   sizeof(err))) < 0) {
		log_err("feeds: %s", *err ? err : strerror(-r));
		return r;
	}
	events_set_tagger(d->ev, feeds_tag_event, d->feeds);
	feeds_on_load(d->feeds, on_feed_loaded, d);
	return 0;
}

/* AbuseIPDB, when a key file is set: a subscriber of the bus. */
static int open_abuseipdb(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 128];
	int r;

	if (!*d->cfg.rep.key_file)
		return 0;
	if ((r = abuseipdb_new(d->loop, &d->cfg.rep, d->cfg.state_dir, d->web, d->ev, &d->abuse, err,
			       sizeof(err))) < 0) {
		log_err("%s", err);
		return r;
	}
	events_subscribe(d->ev, abuseipdb_on_event, d->abuse);
	return 0;
}

/* The reputation policy: a first ban of a source that a feed lists, or
 * that AbuseIPDB scores at reputation.threshold or more, is ban_factor
 * times longer. ban_factor 1 (the default) turns it off. */
static uint32_t reputation_factor(const struct ip_prefix *p, void *ctx)
{
	struct daemon *d = ctx;
	if (d->cfg.rep.ban_factor <= 1)
		return 1;
	if (feeds_listed(d->feeds, &p->addr) ||
	    abuseipdb_score(d->abuse, &p->addr) >= (int)d->cfg.rep.threshold)
		return d->cfg.rep.ban_factor;
	return 1;
}

/* The hooks' settings; -errno with why in err if hook_user is unknown. */
static int hooks_cfg_of(const struct config *cfg, struct hooks_cfg *hc, char *err,
			size_t errlen)
{
	*hc = (struct hooks_cfg){
		.on_ban = cfg->on_ban, .on_unban = cfg->on_unban,
		.timeout_ms = cfg->hook_timeout_ms, .max_running = cfg->hook_max,
		.limit = cfg->log_limit, .as_user = *cfg->hook_user,
	};
	return *cfg->hook_user ? privs_lookup_user(cfg->hook_user, &hc->uid, &hc->gid, err,
						   errlen) : 0;
}

/* The notifiers and the HTTP client they post through. */
static int open_notify(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 128];
	int r;

	if ((r = web_client(d, err, sizeof(err))) < 0 ||
	    (r = notify_new(d->loop, d->web, &d->cfg, &d->notify, err, sizeof(err))) < 0)
		log_err("%s", err);
	return r;
}

/* The bus and its subscribers, in the order they hear an event: the log,
 * the JSON-lines file, the hooks, the notifiers. */
static int open_events(struct daemon *d)
{
	struct hooks_cfg hc;
	char err[256];
	int r;

	if ((r = hooks_cfg_of(&d->cfg, &hc, err, sizeof(err))) < 0) {
		log_err("hook_user: %s", err);
		return r;
	}
	if ((r = events_new(&d->ev)) < 0) {
		log_err("events: %s", strerror(-r));
		return r;
	}
	if ((r = jsonl_open(d->cfg.events, &d->jsonl)) < 0) {
		log_err("cannot open events file %s: %s", d->cfg.events, strerror(-r));
		return r;
	}
	jsonl_set_max(d->jsonl, (uint64_t)d->cfg.events_max_mb << 20);
	if ((r = jsonl_set_limit(d->jsonl, &d->cfg.log_limit)) < 0 ||
	    (r = ratelimit_new(&d->cfg.log_limit, &d->log_rl)) < 0) {
		log_err("events: %s", strerror(-r));
		return r;
	}
	if ((r = hooks_new(d->loop, &hc, &d->hooks)) < 0) {
		log_err("hooks: %s", strerror(-r));
		return r;
	}
	events_subscribe(d->ev, events_log, d->log_rl);
	events_subscribe(d->ev, jsonl_on_event, d->jsonl);
	if ((r = open_notify(d)) < 0)
		return r;
	events_subscribe(d->ev, hooks_on_event, d->hooks);
	events_subscribe(d->ev, notify_on_event, d->notify);
	if ((r = metrics_new(&d->metrics)) < 0)
		return r;
	events_subscribe(d->ev, metrics_on_event, d->metrics);
	return 0;
}

/* The history, one more subscriber. Without it dosips still protects, so
 * a database that cannot be opened is logged, not fatal. A replay writes
 * only to a history named on its command line, never to the system's. */
static void open_history(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 256];

	if (!*d->cfg.history || (d->opts->replay && !d->opts->history_given))
		return;
	if (store_open(d->loop, d->cfg.history, d->cfg.history_days, &d->store, err,
		       sizeof(err)) < 0) {
		log_err("%s; running without history", err);
		return;
	}
	events_subscribe(d->ev, store_on_event, d->store);
	store_set_bus(d->store, d->ev);
}

/* The CrowdSec link, when configured: not for replays or dry runs, whose
 * bans are not real and must not reach the fleet. Its failure to start is
 * logged; local protection goes on without it. */
static void open_crowdsec(struct daemon *d)
{
	struct crowdsec_cfg cc = {
		.url = d->cfg.crowdsec_url, .credentials = d->cfg.crowdsec_credentials,
		.api_key_file = d->cfg.crowdsec_key_file, .queue_path = d->cfg.crowdsec_queue,
		.poll_ms = d->cfg.crowdsec_poll_ms, .queue_max = d->cfg.crowdsec_queue_max,
	};
	char err[CONFIG_PATH_MAX + 128];

	if (!*d->cfg.crowdsec_url)
		return;
	if (d->opts->replay || d->opts->dry_run) {
		log_info("crowdsec: not linked in a %s", d->opts->replay ? "replay" : "dry run");
		return;
	}
	if (web_client(d, err, sizeof(err)) < 0 ||
	    crowdsec_new(d->loop, d->web, d->mit, &cc, &d->crowdsec, err, sizeof(err)) < 0) {
		log_err("%s; running without the fleet link", err);
		return;
	}
	events_subscribe(d->ev, crowdsec_on_event, d->crowdsec);
	log_info("crowdsec: linked to %s (%s%s%s)", d->cfg.crowdsec_url,
		 *d->cfg.crowdsec_credentials ? "pushing bans" : "",
		 *d->cfg.crowdsec_credentials && *d->cfg.crowdsec_key_file ? ", " : "",
		 *d->cfg.crowdsec_key_file ? "pulling decisions" : "");
}

/* The measured rates for bgp.c: the single detector's window, or the
 * workers' shards' (as they last answered: about a tick old). */
static bool bgp_top(struct detect_top top[][8], size_t n, void *ctx)
{
	struct daemon *d = ctx;

	if (d->wk)
		return workers_top_sources(d->wk, top, n);
	if (!d->det)
		return false;
	detect_top_sources(d->det, top, n);
	return true;
}

/* FlowSpec upstream, when configured: like the CrowdSec link, never for
 * replays or dry runs. Its failure to start is logged. */
static void open_bgp(struct daemon *d)
{
	struct bgp_cfg bc = {
		.speaker = d->cfg.upstream_speaker, .api = d->cfg.upstream_api,
		.pps = d->cfg.upstream_pps, .max = d->cfg.upstream_max,
		.window_ms = d->cfg.detect.det[KIND_RATE_FLOOD].window_ms,
	};
	char err[CONFIG_PATH_MAX + 128];

	if (!*d->cfg.upstream_speaker)
		return;
	if (d->opts->replay || d->opts->dry_run) {
		log_info("bgp: no announcements in a %s", d->opts->replay ? "replay" : "dry run");
		return;
	}
	if (bgp_parse_action(d->cfg.upstream_action, &bc.rate_bps) < 0 ||
	    bgp_new(d->loop, &bc, d->mit, &d->wl, bgp_top, d, &d->bgp, err, sizeof(err)) < 0) {
		log_err("%s; running without FlowSpec", err);
		return;
	}
	events_subscribe(d->ev, bgp_on_event, d->bgp);
	log_info("bgp: announcing floods above %u pps through %s at %s", d->cfg.upstream_pps,
		 d->cfg.upstream_speaker, d->cfg.upstream_api);
}

/* Everything a reload replaces, built aside first. */
struct reload {
	struct config *cfg;
	struct whitelist *wl, *wl_file;
	struct detect *det;      /* NULL when detection settings are unchanged */
	char restart[256];       /* keys that need a restart, for the log */
};

/* Builds the new state without touching the running one: any error here
 * leaves dosips exactly as it was. */
static int reload_prepare(struct daemon *d, const struct config_source *src, struct reload *nx,
			  char *err, size_t errlen)
{
	int r;

	if (!(nx->cfg = malloc(sizeof(*nx->cfg))))
		return -ENOMEM;
	if ((r = config_build(nx->cfg, src, err, errlen)) < 0)
		return r;
	host_local(&nx->cfg->detect, d->opts);
	config_keep_restart(nx->cfg, &d->cfg, nx->restart, sizeof(nx->restart));
	if (feeds_cfg_changed(nx->cfg, &d->cfg))  /* feeds keep what they read at start */
		snprintf(nx->restart + strlen(nx->restart), sizeof(nx->restart) - strlen(nx->restart),
			 "%s[feed] sections", *nx->restart ? ", " : "");
	if ((r = load_whitelist(nx->cfg, d->opts->whitelist_given, &nx->wl_file, &nx->wl, err,
				errlen)) < 0)
		return r;
	/* Both configurations start from config_defaults' memset, so their
	 * padding compares equal too. */
	if (d->wk && memcmp(&nx->cfg->detect, &d->cfg.detect, sizeof(d->cfg.detect)) != 0) {
		/* The shards belong to running threads: kept as they are. */
		nx->cfg->detect = d->cfg.detect;
		snprintf(nx->restart + strlen(nx->restart), sizeof(nx->restart) - strlen(nx->restart),
			 "%sdetection settings (workers > 1)", *nx->restart ? ", " : "");
	}
	if (memcmp(&nx->cfg->detect, &d->cfg.detect, sizeof(d->cfg.detect)) != 0 &&
	    (r = detect_new(&nx->cfg->detect, mitigate_verdict, d->mit, &nx->det)) < 0) {
		snprintf(err, errlen, "detection: %s", strerror(-r));
		return r;
	}
	if ((r = allow_set(d->fw, nx->wl)) < 0) {
		snprintf(err, errlen, "nftables: cannot load the whitelist: %s", strerror(-r));
		allow_set(d->fw, d->wl);
		return r;
	}
	return 0;
}

static void reload_discard(struct reload *nx)
{
	detect_free(nx->det);
	whitelist_free(nx->wl);
	whitelist_free(nx->wl_file);
	free(nx->cfg);
}

/* A new events path, or the same one reopened (log rotation). A path
 * that cannot be opened keeps the old sink. */
static void reload_events(struct daemon *d, struct config *next)
{
	int r;

	if (strcmp(next->events, d->cfg.events) == 0) {
		if ((r = jsonl_reopen(d->jsonl)) < 0)
			log_err("events: cannot reopen %s: %s", d->cfg.events, strerror(-r));
		return;
	}
	if ((r = jsonl_set_path(d->jsonl, next->events)) < 0) {
		log_err("events: cannot open %s: %s; still writing to %s", next->events,
			strerror(-r), *d->cfg.events ? d->cfg.events : "nowhere");
		memcpy(next->events, d->cfg.events, sizeof(next->events));
	}
}

/* Swaps the new state in. Windows and counts of a replaced detector start
 * afresh; its alert totals carry over into the control socket's. */
static void reload_commit(struct daemon *d, struct reload *nx)
{
	struct hooks_cfg hc;
	struct detect_stats ds;
	char err[256];

	mitigate_set_cfg(d->mit, &nx->cfg->mitigate);
	mitigate_set_whitelist(d->mit, nx->wl);
	whitelist_free(d->wl);
	whitelist_free(d->wl_file);
	d->wl = nx->wl;
	d->wl_file = nx->wl_file;
	feeds_set_whitelist(d->feeds, d->wl);
	feeds_restore(d->feeds);
	if (nx->det) {
		detect_get_stats(d->det, &ds);
		for (int k = 0; k < KIND__MAX; k++)
			d->view.alerts_before[k] += ds.alerts[k];
		detect_free(d->det);
		d->det = d->view.det = nx->det;
		log_info("reload: new detection settings; their windows start empty");
	}
	reload_events(d, nx->cfg);
	if (d->store)
		store_set_retention(d->store, nx->cfg->history_days);
	ratelimit_set_cfg(d->log_rl, &nx->cfg->log_limit);
	jsonl_set_limit(d->jsonl, &nx->cfg->log_limit);
	jsonl_set_max(d->jsonl, (uint64_t)nx->cfg->events_max_mb << 20);
	if (hooks_cfg_of(nx->cfg, &hc, err, sizeof(err)) < 0)
		log_err("reload: hooks not changed: hook_user %s", err);
	else if (hooks_set_cfg(d->hooks, &hc) < 0)
		log_err("reload: on_ban/on_unban not changed: too many words or no memory");
	if (notify_set_cfg(d->notify, nx->cfg, err, sizeof(err)) < 0)
		log_err("reload: notifiers not changed: %s", err);
	memcpy(&d->cfg, nx->cfg, sizeof(d->cfg));
	if (*nx->restart)
		log_warn("reload: %s changed: takes effect at restart", nx->restart);
	free(nx->cfg);
}

/* Configuration (from src) and whitelist as one, or nothing. */
static int reload_from(struct daemon *d, const struct config_source *src, char *err,
		       size_t errlen)
{
	struct reload nx = { 0 };
	int r;

	if ((r = reload_prepare(d, src, &nx, err, errlen)) < 0) {
		if (!*err)
			snprintf(err, errlen, "%s", strerror(-r));
		log_err("reload failed, nothing changed: %s", err);
		reload_discard(&nx);
		return r;
	}
	reload_commit(d, &nx);
	log_info("reloaded %s and the whitelist", d->src.path);
	return 0;
}

/* SIGHUP and dosipsctl reload: the file again; unsaved tuning is dropped. */
static int daemon_reload(void *ctx, char *err, size_t errlen)
{
	struct daemon *d = ctx;
	int r = reload_from(d, &d->src, err, errlen);

	if (r == 0) {
		free(d->tuned);
		d->tuned = NULL;
	}
	return r;
}

/* The page's tuning: the file's text (or the last tuned text) with set
 * applied goes through the reload as if it were the file, and is written
 * to the file only with save. */
static int daemon_tune(void *ctx, const struct config_setting *set, int n, bool save,
		       char *err, size_t errlen)
{
	struct daemon *d = ctx;
	struct config_source src = d->src;
	char *base = NULL, *text = NULL;
	int r;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < d->src.nset; j++)
			if (strcmp(set[i].key, d->src.set[j].key) == 0)
				return snprintf(err, errlen, "%s is set on the command line (%s)",
						set[i].key, d->src.set[j].opt), -EINVAL;
	if ((r = d->tuned ? ((base = strdup(d->tuned)) ? 0 : -ENOMEM) :
		 tune_read(d->src.path, &base)) < 0 || (r = tune_edit(base, set, n, &text)) < 0) {
		snprintf(err, errlen, "%s: %s", d->src.path, r == -EINVAL ?
			 "a value may not hold a newline, '#' or ';'" : strerror(-r));
		goto out;
	}
	src.text = text;
	if ((r = reload_from(d, &src, err, errlen)) == 0 && save)
		r = tune_save(d->src.path, text, err, errlen);
	if (r == 0) {
		free(d->tuned);
		d->tuned = save ? NULL : text;
		text = NULL;
	}
out:
	free(base);
	free(text);
	return r;
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[CONFIG_PATH_MAX + 128] = "";

	daemon_reload(w->data, err, sizeof(err));
}

/* rtnetlink says this host's addresses or default routes changed: the
 * protected set and the kernel's allow sets follow at once (they go out
 * with the next batch), and bans now wholly inside it are lifted. */
static void on_net_change(void *ctx)
{
	char err[256];
	struct daemon *d = ctx;
	struct whitelist *wl;
	size_t n;
	int r;

	if (build_protected(d->wl_file, &wl, err, sizeof(err)) < 0) {
		log_err("this host's addresses changed, protection not updated: %s", err);
		return;
	}
	if ((r = allow_set(d->fw, wl)) < 0) {
		log_err("this host's addresses changed, allow sets not updated: %s",
			strerror(-r));
		allow_set(d->fw, d->wl);
		whitelist_free(wl);
		return;
	}
	mitigate_set_whitelist(d->mit, wl);
	whitelist_free(d->wl);
	d->wl = wl;
	whitelist_entries(wl, &n);
	log_info("this host's addresses or default routes changed: %zu prefixes protected", n);
}

/* Live capture only: a replay's host is not the one it replays. */
static void open_netwatch(struct daemon *d)
{
	int r;

	if (d->opts->replay)
		return;
	if ((r = netwatch_open(d->loop, on_net_change, d, &d->netwatch)) < 0)
		log_warn("cannot watch address changes (%s): new addresses and gateways are "
			 "protected only after a reload", strerror(-r));
}

/* The control socket; without it dosips still protects, so a failure is
 * logged, not fatal. Not for replays. */
static void open_control(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 128];

	d->view = (struct ctl_view){
		.cap = d->cap, .det = d->det, .wk = d->wk, .mit = d->mit, .fw = d->fw,
		.hooks = d->hooks, .notify = d->notify, .crowdsec = d->crowdsec, .bgp = d->bgp,
		.feeds = d->feeds, .feeds_foreach = feeds_foreach,
		.store = d->store, .bus = d->ev,
		.cfg = &d->cfg, .started = ev_time(), .source = d->cfg.iface,
		.dry_run = d->opts->dry_run, .reload = daemon_reload, .ctx = d,
	};
	if (d->opts->replay || !*d->cfg.ctl_socket)
		return;
	if (ctl_open(d->loop, d->cfg.ctl_socket, d->cfg.ctl_group, &d->view, &d->ctl,
		     err, sizeof(err)) < 0)
		log_err("%s; running without a control socket", err);
}

/* /metrics and the page, when http_listen asks for them. */
static int open_http(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 128];
	int r;

	if (!*d->cfg.http_listen)
		return 0;
	d->hview = (struct http_view){
		.ctl = &d->view, .metrics = d->metrics, .bus = d->ev, .tune = daemon_tune,
		.ctx = d,
	};
	if ((r = http_open(d->loop, &d->cfg, &d->hview, &d->http, err, sizeof(err))) < 0) {
		log_err("%s", err);
		return r;
	}
	events_subscribe(d->ev, http_on_event, d->http);
	log_info("serving /metrics and the page on %s", d->cfg.http_listen);
	return 0;
}

/* Last step of set-up: everything that needed root is open now. The
 * events file goes to the user dosips becomes, so that it can reopen it
 * on SIGHUP (rotation). */
static int drop_privs(struct daemon *d)
{
	char err[256];
	const char *user;
	uid_t uid;
	gid_t gid;
	int r;

	if ((user = privs_target(d->cfg.user, &uid, &gid, err, sizeof(err))) && *user &&
	    uid != geteuid() && (r = jsonl_chown(d->jsonl, uid, gid)) < 0)
		log_warn("events: cannot hand %s to user %s: %s", jsonl_path(d->jsonl), user,
			 strerror(-r));
	r = privs_drop(d->cfg.user, *d->cfg.hook_user, err, sizeof(err));
	if (r == 1)
		log_debug("not started as root: no privileges to drop");
	else if (r < 0)
		log_err("%s", err);
	else
		log_debug("kept only CAP_NET_ADMIN and CAP_NET_RAW%s%s",
			  user && *user ? ", running as " : "", user ? user : "");
	return r < 0 ? r : 0;
}

static void start_watchers(struct daemon *d)
{
	ev_prepare_init(&d->flush, on_prepare);
	d->flush.data = d;
	ev_prepare_start(d->loop, &d->flush);
	if (fw_monitor_fd(d->fw) >= 0) {
		ev_io_init(&d->monitor, on_monitor, fw_monitor_fd(d->fw), EV_READ);
		d->monitor.data = d;
		ev_io_start(d->loop, &d->monitor);
	}
	if (!d->opts->replay) {
		/* A replay's windows run on packet time: its summaries come
		 * with its events and at the end. */
		ev_timer_init(&d->tick, on_tick, 1.0, 1.0);
		d->tick.data = d;
		ev_timer_start(d->loop, &d->tick);
		ev_unref(d->loop);
	}
	watch_signal(d, &d->sig_int, SIGINT, on_stop);
	watch_signal(d, &d->sig_term, SIGTERM, on_stop);
	watch_signal(d, &d->sig_usr1, SIGUSR1, on_usr1);
	watch_signal(d, &d->sig_hup, SIGHUP, on_hup);
}

/* Everything from the whitelist to the watchers, in dependency order. */
static int daemon_setup(struct daemon *d)
{
	char err[CONFIG_PATH_MAX + 128];
	int r;

	size_t nwl;

	/* Before the first look at this host's addresses: a change from then
	 * on is heard (and acted on once the loop runs). */
	open_netwatch(d);
	if ((r = load_whitelist(&d->cfg, d->opts->whitelist_given, &d->wl_file, &d->wl, err,
				sizeof(err))) < 0) {
		log_err("%s", err);
		return r;
	}
	whitelist_entries(d->wl, &nwl);
	log_debug("whitelist: %zu entries with this host's own addresses", nwl);
	if ((r = open_events(d)) < 0)
		return r;
	/* The capture first: a wrong interface or file must stop dosips
	 * before it changes anything in the firewall. Packets are only read
	 * once the loop runs, when everything below is in place. */
	if ((r = open_capture(d)) < 0)
		return r;
	open_history(d);
	if ((r = open_fw(d)) < 0)
		return r;
	if ((r = push_allow(d)) < 0)
		return r;
	if ((r = open_feeds(d)) < 0 || (r = open_abuseipdb(d)) < 0)
		return r;
	if ((r = mitigate_new(d->loop, &d->cfg.mitigate, d->fw, d->wl, d->ev, &d->mit)) < 0)
		return r;
	mitigate_set_reputation(d->mit, reputation_factor, d);
	if ((r = mitigate_adopt(d->mit)) < 0)
		log_warn("could not read back existing bans: %s", strerror(-r));
	open_crowdsec(d);
	open_bgp(d);
	start_watchers(d);
	open_control(d);
	if ((r = open_http(d)) < 0)
		return r;
	if ((r = drop_privs(d)) < 0)
		return r;
	/* Threads start with the privileges left: none but the two kept. */
	if (d->wk && (r = workers_start(d->wk)) < 0)
		log_err("cannot start the workers: %s", strerror(-r));
	return r;
}

static void daemon_teardown(struct daemon *d)
{
	http_close(d->http);
	ctl_close(d->ctl);
	if (d->crowdsec)
		events_unsubscribe(d->ev, crowdsec_on_event, d->crowdsec);
	crowdsec_free(d->crowdsec);
	if (d->bgp)
		events_unsubscribe(d->ev, bgp_on_event, d->bgp);
	bgp_free(d->bgp);     /* withdraws: before the bans go */
	abuseipdb_free(d->abuse);   /* they cancel their requests: before the client */
	feeds_free(d->feeds);
	capture_close(d->cap);
	workers_free(d->wk);
	detect_free(d->det);
	mitigate_free(d->mit);
	fw_feeds_close(d->fwf);
	fw_close(d->fw);
	store_free(d->store);
	events_free(d->ev);
	hooks_free(d->hooks);
	notify_free(d->notify);      /* after ctl_close: it cancels its tests */
	webclient_free(d->web);      /* after every user: each cancelled its requests */
	jsonl_close(d->jsonl);
	metrics_free(d->metrics);
	free(d->tuned);
	ratelimit_free(d->log_rl);
	netwatch_close(d->netwatch);
	whitelist_free(d->wl);
	whitelist_free(d->wl_file);
}

/* Whether a hook command's program can be run; "" is fine. */
static int check_hook(const char *key, const char *cmd)
{
	char prog[CONFIG_PATH_MAX];

	if (sscanf(cmd, "%4095s", prog) != 1 || access(prog, X_OK) == 0)
		return 0;
	fprintf(stderr, "dosips: %s: cannot run %s: %s\n", key, prog, strerror(errno));
	return -1;
}

/* What set-up would trip over later: names that must resolve, hooks that
 * must run. */
static int check_runtime(const struct config *cfg)
{
	char err[256];
	uid_t uid;
	gid_t gid;
	int bad = 0;

	/* The very lookups set-up makes, so -n fails where start-up would. */
	if (!privs_target(cfg->user, &uid, &gid, err, sizeof(err)))
		bad = fprintf(stderr, "dosips: %s\n", err);
	if (*cfg->hook_user && privs_lookup_user(cfg->hook_user, &uid, &gid, err, sizeof(err)) < 0)
		bad = fprintf(stderr, "dosips: hook_user: %s\n", err);
	if (*cfg->ctl_group && ctl_group_id(cfg->ctl_group, &gid, err, sizeof(err)) < 0)
		bad = fprintf(stderr, "dosips: %s\n", err);
	bad |= check_hook("on_ban", cfg->on_ban) | check_hook("on_unban", cfg->on_unban);
	return bad ? -EINVAL : 0;
}

static int run_check(const struct config *cfg, const struct opts *o)
{
	char err[CONFIG_PATH_MAX + 128];
	struct whitelist *wl, *file;

	if (load_whitelist(cfg, o->whitelist_given, &file, &wl, err, sizeof(err)) < 0) {
		fprintf(stderr, "dosips: %s\n", err);
		return 1;
	}
	whitelist_free(wl);
	whitelist_free(file);
	if (check_runtime(cfg) < 0)
		return 1;
	printf("configuration OK\n");
	return 0;
}

static int run_flush(struct daemon *d)
{
	int r;

	if ((r = open_fw(d)) < 0)
		return 1;
	if ((r = fw_flush(d->fw)) < 0) {
		log_err("cannot remove table inet %s: %s", d->cfg.table, strerror(-r));
		return 1;
	}
	log_info("removed table inet %s and every ban in it", d->cfg.table);
	fw_close(d->fw);
	return 0;
}

static int pick_iface(struct config *cfg)
{
	if (*cfg->iface)
		return 0;
	if (capture_default_iface(cfg->iface, sizeof(cfg->iface)) == 0)
		return 0;
	log_err("no default route to take an interface from: name one with -i IFACE");
	return -ENOENT;
}

int main(int argc, char **argv)
{
	static struct opts o;
	static struct daemon d;
	int status = 1;

	parse_args(argc, argv, &o);
	load_config(&d, &o);
	log_init("dosips", d.cfg.syslog, o.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	log_debug("configuration: %s", *d.cfg.file ? d.cfg.file : "built-in defaults");
	d.opts = &o;
	if (o.check)
		return run_check(&d.cfg, &o);
	if (!o.replay && pick_iface(&d.cfg) < 0)
		return 1;
	if (o.replay && !o.dry_run && !o.flush) {
		/* A capture file is the past: its sources are not at the door. */
		log_info("replaying a capture never touches the firewall: --dry-run implied");
		o.dry_run = 1;
	}
	if (o.flush)
		return run_flush(&d);
	if (check_runtime(&d.cfg) < 0)
		return 1;
	if (!(d.loop = ev_default_loop(EVFLAG_AUTO)))
		log_fatal("cannot initialise the event loop");
	if (daemon_setup(&d) == 0) {
		if (o.replay)
			log_info("replaying %s (%s%s)%s", o.replay, capture_link_name(d.cap),
				 decode_link_supported(capture_dlt(d.cap)) ? "" :
				 ": not supported, every frame is skipped",
				 o.dry_run ? ", dry run" : "");
		else
			log_info("watching %s (%s), bans last %us%s", d.cfg.iface,
				 d.cap ? capture_link_name(d.cap) : workers_link_name(d.wk),
				 d.cfg.mitigate.ban_s,
				 o.dry_run ? ", dry run: no firewall changes" : "");
		if (d.wk)
			log_info("%u workers, sharded by source", workers_count(d.wk));
		ev_run(d.loop, 0);
		if (d.wk)
			workers_stop(d.wk);	/* their last verdicts go in the flush */
		mitigate_flush(d.mit);
		flush_summaries(&d, UINT64_MAX);
		report(&d);
		status = (d.cap && capture_failed(d.cap)) || (d.wk && workers_failed(d.wk));
	}
	daemon_teardown(&d);
	return status;
}
