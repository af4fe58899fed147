/* notify_msg.c - events and digests as chat messages, webhook bodies and
 * mail.
 *
 * Every message starts as a neutral note (severity, a one-line title, a
 * sentence or two, a few name/value fields, and the JSON a generic webhook
 * gets), and only then takes one service's documented shape: Slack's
 * incoming webhook (`text` plus Block Kit `blocks`), Discord's execute
 * webhook (`content` plus one `embeds` entry, mentions disabled),
 * Mattermost's incoming webhook (`text` in Markdown), a Microsoft Teams
 * workflow webhook (a `message` carrying one Adaptive Card), or the bus's
 * own JSON line for a generic webhook. JSON is built with json-c, never
 * pasted together, so an odd byte in a value cannot break a payload.
 * Lengths stay under every service's documented limits: the note's
 * buffers are smaller than the smallest of them. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "notify_msg.h"

#define SEE_ALSO "see dosipsctl history"

enum notify_sev notify_event_sev(const struct event *e)
{
	const char *t = event_type_name(e->type);

	if (e->type == EVT_ALERT)
		return e->v && !e->v->src.len ? SEV_CRITICAL : SEV_NOTICE;
	if (e->type == EVT_BAN)
		return SEV_WARNING;
	if (e->type == EVT_UNBAN)
		return SEV_INFO;
	if (e->type == EVT_WHITELISTED)
		return SEV_NOTICE;
	/* ban_cap, ban_failed and whatever else means a ban did not happen */
	return strstr(t, "ban") ? SEV_CRITICAL : SEV_WARNING;
}

__attribute__((format(printf, 3, 4)))
static void field(struct note *n, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (n->nfield == NOTE_FIELDS)
		return;
	snprintf(n->field[n->nfield].name, sizeof(n->field[0].name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(n->field[n->nfield].value, sizeof(n->field[0].value), fmt, ap);
	va_end(ap);
	n->nfield++;
}

static const char *proto_word(uint8_t proto)
{
	return proto == 6 ? "TCP" : proto == 17 ? "UDP" : proto == 1 ? "ICMP" :
	       proto == 58 ? "ICMPv6" : "IP";
}

/* An alert: one source over a threshold, or many against one target. */
static void note_alert(struct note *n, const struct event *e, const char *src)
{
	const struct verdict *v = e->v;
	char dst[ADDR_STRLEN];

	if (!v) {
		snprintf(n->title, sizeof(n->title), "%s alert from %s",
			 detect_kind_name(e->kind), src);
		return;
	}
	addr_fmt(&v->dst, dst);
	if (!v->src.len) {
		snprintf(n->title, sizeof(n->title), "%s against %s", detect_kind_name(v->kind), dst);
		snprintf(n->text, sizeof(n->text), "%u %s packets in %g s from many sources to %s "
			 "(threshold %u); nobody is banned for it.", v->count, proto_word(v->proto),
			 v->window_ms / 1000.0, dst, v->threshold);
	} else {
		snprintf(n->title, sizeof(n->title), "%s %s from %s",
			 detect_kind_name(v->kind), e->type == EVT_ALERT ? "alert" :
			 "from a whitelisted source", src);
		snprintf(n->text, sizeof(n->text), "%u in %g s to %s (threshold %u)%s.", v->count,
			 v->window_ms / 1000.0, dst, v->threshold,
			 e->type == EVT_WHITELISTED ? "; whitelisted, not banned" : "");
		field(n, "source", "%s", src);
	}
	field(n, "kind", "%s", detect_kind_name(v->kind));
	field(n, "target", "%s", dst);
	field(n, "count", "%u in %g s", v->count, v->window_ms / 1000.0);
}

static void note_text(struct note *n, const struct event *e, const char *src,
		      const char *kind)
{
	switch (e->type) {
	case EVT_BAN:
		snprintf(n->title, sizeof(n->title), "banned %s (%s)", src, kind);
		snprintf(n->text, sizeof(n->text), "%s is banned for %u s (%s, offence %u).",
			 src, e->duration_s, kind, e->offences);
		field(n, "source", "%s", src);
		field(n, "reason", "%s", kind);
		field(n, "duration", "%u s", e->duration_s);
		field(n, "offences", "%u", e->offences);
		break;
	case EVT_UNBAN:
		snprintf(n->title, sizeof(n->title), "unbanned %s", src);
		snprintf(n->text, sizeof(n->text), "%s is no longer banned (%s).", src,
			 e->reason ? e->reason : "expired");
		field(n, "source", "%s", src);
		break;
	case EVT_ALERT:
	case EVT_WHITELISTED:
		note_alert(n, e, src);
		break;
	case EVT_BAN_FAILED:
		snprintf(n->title, sizeof(n->title), "could not ban %s (%s)", src, kind);
		snprintf(n->text, sizeof(n->text), "%s is not banned: the kernel refused (%s).",
			 src, e->reason ? e->reason : "no reason given");
		field(n, "source", "%s", src);
		field(n, "reason", "%s", kind);
		break;
	case EVT_BAN_CAP:
		snprintf(n->title, sizeof(n->title), "ban cap reached: %s not banned", src);
		snprintf(n->text, sizeof(n->text), "%s was not banned: %s.", src,
			 e->reason ? e->reason : "raise max_bans");
		field(n, "source", "%s", src);
		break;
	default:
		snprintf(n->title, sizeof(n->title), "%s %s (%s)", event_type_name(e->type), src,
			 kind);
		if (e->reason)
			snprintf(n->text, sizeof(n->text), "%s.", e->reason);
		field(n, "source", "%s", src);
		break;
	}
}

int note_event(struct note *n, const struct event *e, const char *json, size_t len,
	       const char *host)
{
	char src[ADDR_STRLEN], ts[40];

	memset(n, 0, sizeof(*n));
	n->sev = notify_event_sev(e);
	n->ts_us = e->ts_us;
	note_text(n, e, e->src.len ? prefix_fmt(&e->src, src) : "many sources",
		  detect_kind_name(e->kind));
	events_fmt_ts(e->ts_us, ts, sizeof(ts));
	field(n, "time", "%s", ts);
	field(n, "host", "%s", host);
	if (!(n->json = malloc(len + 1)))
		return -ENOMEM;
	memcpy(n->json, json, len);
	n->json[len] = '\0';
	return 0;
}

void note_clear(struct note *n)
{
	free(n->json);
	n->json = NULL;
}

/* ---- digests -------------------------------------------------------------- */

void digest_add(struct digest *d, const struct event *e, uint64_t now_us)
{
	uint32_t i;

	if (!d->count++)
		d->start_us = now_us;
	if ((unsigned)e->type < DIGEST_TYPES)
		d->by_type[e->type]++;
	if (e->type != EVT_BAN_CAP && (unsigned)e->kind < KIND__ALL)
		d->by_kind[e->kind]++;
	if (!e->src.len)
		return;
	for (i = 0; i < d->nsrc; i++)
		if (d->src[i].src.len == e->src.len && addr_eq(&d->src[i].src.addr, &e->src.addr))
			break;
	if (i == d->nsrc && d->nsrc == DIGEST_SRCS) {
		d->untracked++;
		return;
	}
	if (i == d->nsrc)
		d->src[d->nsrc++].src = e->src;
	d->src[i].n++;
}

/* Indexes of the busiest sources, most first; returns how many. */
static int digest_top(const struct digest *d, uint32_t top[DIGEST_TOP])
{
	int n = 0, j;

	for (uint32_t i = 0; i < d->nsrc; i++) {
		if (n == DIGEST_TOP && d->src[i].n <= d->src[top[n - 1]].n)
			continue;
		j = n < DIGEST_TOP ? n++ : n - 1;
		for (; j > 0 && d->src[top[j - 1]].n < d->src[i].n; j--)
			top[j] = top[j - 1];
		top[j] = i;
	}
	return n;
}

/* "ban" -> "bans", as the counts read in a sentence. */
static const char *plural(const char *word, uint32_t n, char *buf, size_t len)
{
	size_t l = strlen(word);

	if (n == 1 || (l > 2 && !strcmp(word + l - 2, "ed")) || strchr(word, '_'))
		return word;
	snprintf(buf, len, "%ss", word);
	return buf;
}

/* "37 bans" or "40 events (37 bans, 3 alerts)" */
static void digest_head(const struct digest *d, char *buf, size_t len, size_t *at)
{
	int types = 0, only = 0;
	char pl[40];

	for (int t = 0; t < DIGEST_TYPES; t++)
		if (d->by_type[t])
			types++, only = t;
	if (types == 1) {
		fmt_append(buf, len, at, "%u %s", d->count,
			   plural(event_type_name(only), d->count, pl, sizeof(pl)));
		return;
	}
	fmt_append(buf, len, at, "%u events (", d->count);
	for (int t = 0, first = 1; t < DIGEST_TYPES; t++) {
		if (!d->by_type[t])
			continue;
		fmt_append(buf, len, at, "%s%u %s", first ? "" : ", ", d->by_type[t],
			   plural(event_type_name(t), d->by_type[t], pl, sizeof(pl)));
		first = 0;
	}
	fmt_append(buf, len, at, ")");
}

/* The digest's sentence: counts, kinds, busiest sources, where to look. */
static void digest_sentence(const struct digest *d, unsigned secs, char *buf, size_t len)
{
	uint32_t top[DIGEST_TOP];
	char a[ADDR_STRLEN];
	size_t at = 0;
	int ntop = digest_top(d, top);

	digest_head(d, buf, len, &at);
	fmt_append(buf, len, &at, " in the last %u s", secs);
	for (int k = 0, first = 1; k < KIND__ALL; k++) {
		if (!d->by_kind[k])
			continue;
		fmt_append(buf, len, &at, "%s%u %s", first ? ": " : ", ", d->by_kind[k],
			   detect_kind_name(k));
		first = 0;
	}
	/* Counts only where a source stands out: "(1)" after each says nothing. */
	for (int i = 0; i < ntop; i++) {
		fmt_append(buf, len, &at, "%s%s", i ? ", " : d->src[top[0]].n > 1 ?
			   "; top sources " : "; sources ",
			   prefix_fmt(&d->src[top[i]].src, a));
		if (d->src[top[i]].n > 1)
			fmt_append(buf, len, &at, " (%u)", d->src[top[i]].n);
	}
	if (d->nsrc > (uint32_t)ntop || d->untracked)
		fmt_append(buf, len, &at, " and %u more", d->nsrc - (uint32_t)ntop + d->untracked);
	fmt_append(buf, len, &at, "; %s", SEE_ALSO);
}

static json_object *digest_json(const struct digest *d, unsigned secs, uint64_t now_us,
				const char *host, const char *text)
{
	json_object *o = json_object_new_object(), *types = json_object_new_object(),
		    *kinds = json_object_new_object(), *tops = json_object_new_array();
	uint32_t top[DIGEST_TOP];
	char ts[40], a[ADDR_STRLEN];
	int ntop = digest_top(d, top);

	events_fmt_ts(now_us, ts, sizeof(ts));
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "event", json_object_new_string("digest"));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "count", json_object_new_int64(d->count));
	json_object_object_add(o, "seconds", json_object_new_int64(secs));
	for (int t = 0; t < DIGEST_TYPES; t++)
		if (d->by_type[t])
			json_object_object_add(types, event_type_name(t),
					       json_object_new_int64(d->by_type[t]));
	for (int k = 0; k < KIND__ALL; k++)
		if (d->by_kind[k])
			json_object_object_add(kinds, detect_kind_name(k),
					       json_object_new_int64(d->by_kind[k]));
	for (int i = 0; i < ntop; i++) {
		json_object *s = json_object_new_object();

		json_object_object_add(s, "src", json_object_new_string(
			prefix_fmt(&d->src[top[i]].src, a)));
		json_object_object_add(s, "count", json_object_new_int64(d->src[top[i]].n));
		json_object_array_add(tops, s);
	}
	json_object_object_add(o, "events", types);
	json_object_object_add(o, "kinds", kinds);
	json_object_object_add(o, "top_sources", tops);
	json_object_object_add(o, "text", json_object_new_string(text));
	return o;
}

/* Takes o; its text (malloc'd) or NULL. */
static char *json_take(json_object *o, size_t *len)
{
	const char *s;
	char *out = NULL;
	size_t l = 0;

	if (o && (s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE, &l)))
		if ((out = malloc(l + 1)))
			memcpy(out, s, l + 1);
	json_object_put(o);
	if (len)
		*len = l;
	return out;
}

int note_digest(struct note *n, const struct digest *d, uint64_t now_us, const char *host)
{
	unsigned secs = (unsigned)((now_us - d->start_us + 500000) / 1000000);
	size_t at = 0;

	memset(n, 0, sizeof(*n));
	n->ts_us = now_us;
	n->sev = d->by_type[EVT_BAN] == d->count ? SEV_WARNING : SEV_CRITICAL;
	digest_head(d, n->title, sizeof(n->title), &at);
	fmt_append(n->title, sizeof(n->title), &at, " in the last %u s", secs);
	digest_sentence(d, secs, n->text, sizeof(n->text));
	field(n, "events", "%u", d->count);
	field(n, "host", "%s", host);
	n->json = json_take(digest_json(d, secs, now_us, host, n->text), NULL);
	return n->json ? 0 : -ENOMEM;
}

int note_test(struct note *n, const char *name, uint64_t now_us, const char *host)
{
	json_object *o = json_object_new_object();
	char ts[40];

	memset(n, 0, sizeof(*n));
	n->ts_us = now_us;
	n->sev = SEV_INFO;
	snprintf(n->title, sizeof(n->title), "test message from notifier %s", name);
	snprintf(n->text, sizeof(n->text), "dosips on %s can reach this channel "
		 "(dosipsctl notify test %s).", host, name);
	field(n, "host", "%s", host);
	events_fmt_ts(now_us, ts, sizeof(ts));
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "event", json_object_new_string("test"));
	json_object_object_add(o, "notifier", json_object_new_string(name));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "text", json_object_new_string(n->text));
	n->json = json_take(o, NULL);
	return n->json ? 0 : -ENOMEM;
}

/* ---- service shapes ------------------------------------------------------- */

static const uint32_t sev_color[SEV__MAX] = { 0x808080, 0x3b82f6, 0xf59e0b, 0xdc2626 };

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Slack's mrkdwn wants &, < and > escaped; everything else is literal. */
static void slack_escape(const char *s, char *out, size_t len)
{
	size_t at = 0;

	for (; *s && at + 6 < len; s++)
		at += (size_t)snprintf(out + at, len - at, "%s",
				       *s == '&' ? "&amp;" : *s == '<' ? "&lt;" :
				       *s == '>' ? "&gt;" : (char[2]){ *s, 0 });
	out[at] = '\0';
}

static json_object *slack_text(const char *type, const char *s)
{
	json_object *t = json_object_new_object();
	char esc[3 * sizeof(((struct note *)0)->text)];

	slack_escape(s, esc, sizeof(esc));
	add_str(t, "type", type);
	add_str(t, "text", esc);
	return t;
}

/* Incoming webhook: `text` (the notification and fallback) and Block Kit
 * blocks: a header, a section with fields, a context line. */
static json_object *shape_slack(const struct note *n)
{
	json_object *o = json_object_new_object(), *blocks = json_object_new_array();
	json_object *head = json_object_new_object(), *sec = json_object_new_object();
	json_object *fields = json_object_new_array(), *ctx = json_object_new_object();
	json_object *els = json_object_new_array();
	char line[256], fallback[3 * 256];

	snprintf(line, sizeof(line), "dosips: %s", n->title);
	slack_escape(line, fallback, sizeof(fallback));
	add_str(o, "text", fallback);
	add_str(head, "type", "header");
	snprintf(line, sizeof(line), "%.150s", n->title);    /* a header holds 150 */
	json_object_object_add(head, "text", slack_text("plain_text", line));
	add_str(sec, "type", "section");
	json_object_object_add(sec, "text", slack_text("mrkdwn", *n->text ? n->text : n->title));
	for (int i = 0; i < n->nfield; i++) {
		snprintf(line, sizeof(line), "*%s*\n%s", n->field[i].name, n->field[i].value);
		json_object_array_add(fields, slack_text("mrkdwn", line));
	}
	json_object_object_add(sec, "fields", fields);
	add_str(ctx, "type", "context");
	snprintf(line, sizeof(line), "dosips · severity %s", notify_sev_name(n->sev));
	json_object_array_add(els, slack_text("mrkdwn", line));
	json_object_object_add(ctx, "elements", els);
	json_object_array_add(blocks, head);
	json_object_array_add(blocks, sec);
	json_object_array_add(blocks, ctx);
	json_object_object_add(o, "blocks", blocks);
	return o;
}

/* Execute webhook: `content` and one embed; no mention is ever parsed. */
static json_object *shape_discord(const struct note *n)
{
	json_object *o = json_object_new_object(), *embeds = json_object_new_array();
	json_object *em = json_object_new_object(), *fields = json_object_new_array();
	json_object *am = json_object_new_object(), *footer = json_object_new_object();
	char ts[40], line[200];

	add_str(o, "username", "dosips");
	snprintf(line, sizeof(line), "dosips: %s", n->title);
	add_str(o, "content", line);
	add_str(em, "title", n->title);
	if (*n->text)
		add_str(em, "description", n->text);
	json_object_object_add(em, "color", json_object_new_int((int)sev_color[n->sev]));
	events_fmt_ts(n->ts_us, ts, sizeof(ts));
	add_str(em, "timestamp", ts);
	for (int i = 0; i < n->nfield; i++) {
		json_object *f = json_object_new_object();

		add_str(f, "name", n->field[i].name);
		add_str(f, "value", n->field[i].value);
		json_object_object_add(f, "inline", json_object_new_boolean(1));
		json_object_array_add(fields, f);
	}
	json_object_object_add(em, "fields", fields);
	snprintf(line, sizeof(line), "dosips · severity %s", notify_sev_name(n->sev));
	add_str(footer, "text", line);
	json_object_object_add(em, "footer", footer);
	json_object_array_add(embeds, em);
	json_object_object_add(o, "embeds", embeds);
	json_object_object_add(am, "parse", json_object_new_array());
	json_object_object_add(o, "allowed_mentions", am);
	return o;
}

/* The note as Markdown: a bold title, the text, a two-column table. */
static void markdown(const struct note *n, char *buf, size_t len)
{
	size_t at = 0;

	fmt_append(buf, len, &at, "**dosips: %s**\n", n->title);
	if (*n->text)
		fmt_append(buf, len, &at, "%s\n", n->text);
	if (n->nfield)
		fmt_append(buf, len, &at, "\n| | |\n|:--|:--|\n");
	for (int i = 0; i < n->nfield; i++)
		fmt_append(buf, len, &at, "| %s | %s |\n", n->field[i].name, n->field[i].value);
}

/* Incoming webhook: `text` in Markdown, under the sender's name. */
static json_object *shape_mattermost(const struct note *n)
{
	json_object *o = json_object_new_object();
	char text[4096];

	markdown(n, text, sizeof(text));
	add_str(o, "username", "dosips");
	add_str(o, "text", text);
	return o;
}

static json_object *text_block(const char *text, const char *weight, const char *color)
{
	json_object *b = json_object_new_object();

	add_str(b, "type", "TextBlock");
	add_str(b, "text", text);
	json_object_object_add(b, "wrap", json_object_new_boolean(1));
	if (weight)
		add_str(b, "weight", weight);
	if (color)
		add_str(b, "color", color);
	return b;
}

/* A workflow webhook's message: one Adaptive Card 1.4 attachment with a
 * title, the text and a FactSet. */
static json_object *shape_teams(const struct note *n)
{
	static const char *const colors[SEV__MAX] = { "Default", "Accent", "Warning",
						      "Attention" };
	json_object *o = json_object_new_object(), *atts = json_object_new_array();
	json_object *att = json_object_new_object(), *card = json_object_new_object();
	json_object *body = json_object_new_array(), *facts = json_object_new_object();
	json_object *list = json_object_new_array();
	char title[200];

	snprintf(title, sizeof(title), "dosips: %s", n->title);
	json_object_array_add(body, text_block(title, "Bolder", colors[n->sev]));
	if (*n->text)
		json_object_array_add(body, text_block(n->text, NULL, NULL));
	for (int i = 0; i < n->nfield; i++) {
		json_object *f = json_object_new_object();

		add_str(f, "title", n->field[i].name);
		add_str(f, "value", n->field[i].value);
		json_object_array_add(list, f);
	}
	add_str(facts, "type", "FactSet");
	json_object_object_add(facts, "facts", list);
	json_object_array_add(body, facts);
	add_str(card, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
	add_str(card, "type", "AdaptiveCard");
	add_str(card, "version", "1.4");
	json_object_object_add(card, "body", body);
	add_str(att, "contentType", "application/vnd.microsoft.card.adaptive");
	json_object_object_add(att, "content", card);
	json_object_array_add(atts, att);
	add_str(o, "type", "message");
	json_object_object_add(o, "attachments", atts);
	return o;
}

char *note_payload(enum notify_type t, const struct note *n, size_t *len)
{
	char *s = NULL;

	switch (t) {
	case NOTIFY_SLACK: return json_take(shape_slack(n), len);
	case NOTIFY_DISCORD: return json_take(shape_discord(n), len);
	case NOTIFY_MATTERMOST: return json_take(shape_mattermost(n), len);
	case NOTIFY_TEAMS: return json_take(shape_teams(n), len);
	case NOTIFY_WEBHOOK:
		if (n->json && (s = strdup(n->json)))
			*len = strlen(s);
		return s;
	default: return NULL;
	}
}

/* ---- mail ------------------------------------------------------------------ */

char *note_mail(const struct note *n, const struct mail_hdr *h, size_t *len)
{
	size_t cap = 8192, at = 0;
	time_t now = (time_t)(h->now_us / 1000000);
	char date[64], *buf = malloc(cap);
	struct tm tm;

	if (!buf)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (*h->from)
		fmt_append(buf, cap, &at, "From: dosips <%s>\n", h->from);
	fmt_append(buf, cap, &at, "To: %s\nSubject: [dosips %s] %s\nDate: %s\n", h->to, h->host,
		   n->title, date);
	fmt_append(buf, cap, &at, "Message-ID: <dosips.%" PRIu64 ".%d.%" PRIu64 "@%s>\n",
		   h->now_us, (int)getpid(), h->seq, h->host);
	fmt_append(buf, cap, &at, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
		   "Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n"
		   "X-Dosips-Severity: %s\n\n%s\n\n", notify_sev_name(n->sev), n->title);
	if (*n->text)
		fmt_append(buf, cap, &at, "%s\n\n", n->text);
	for (int i = 0; i < n->nfield; i++)
		fmt_append(buf, cap, &at, "%-10s %s\n", n->field[i].name, n->field[i].value);
	/* The machine-readable line, if it keeps to SMTP's 998 bytes a line. */
	if (n->json && strlen(n->json) < 990)
		fmt_append(buf, cap, &at, "\n-- \n%s\n", n->json);
	*len = at < cap ? at : cap - 1;
	return buf;
}
