/* notify_msg.h - what notifiers say: events and digests in each service's
 * documented message shape. Pure functions; notify.c sends the bytes. */
#ifndef DOSIPS_NOTIFY_MSG_H
#define DOSIPS_NOTIFY_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "events.h"
#include "notify_cfg.h"

#define NOTE_FIELDS 8
#define DIGEST_TYPES 16         /* event types counted apart */
#define DIGEST_SRCS 64          /* distinct sources counted apart */
#define DIGEST_TOP 5            /* of which a digest names the busiest */

/* One message, before it takes a service's shape. */
struct note {
	enum notify_sev sev;
	uint64_t ts_us;
	char title[160];            /* one line: "banned 198.18.0.3 (syn_flood)" */
	char text[1024];            /* the sentence or two under it */
	struct { char name[24], value[96]; } field[NOTE_FIELDS];
	int nfield;
	char *json;                 /* the generic webhook's body (malloc'd) */
};

/* Events folded into one message under pressure. */
struct digest {
	uint64_t start_us;          /* clock at the first folded event */
	uint32_t count;             /* events folded */
	uint32_t by_type[DIGEST_TYPES];
	uint32_t by_kind[KIND__ALL];    /* KIND_MANUAL included */
	struct { struct ip_prefix src; uint32_t n; } src[DIGEST_SRCS];
	uint32_t nsrc;
	uint32_t untracked;         /* events of sources past DIGEST_SRCS */
};

/* How much an event matters: a ban is a warning, a ddos alert or a ban
 * that could not be made is critical, an unban is news. */
enum notify_sev notify_event_sev(const struct event *e);

/* Fills n for event e (json: its line on the bus); host names the sender.
 * 0 or -ENOMEM. Free with note_clear. */
int note_event(struct note *n, const struct event *e, const char *json, size_t len,
	       const char *host);

/* Fills n for digest d flushed at now_us. 0 or -ENOMEM. */
int note_digest(struct note *n, const struct digest *d, uint64_t now_us, const char *host);

/* Fills n for `dosipsctl notify test NAME`. 0 or -ENOMEM. */
int note_test(struct note *n, const char *name, uint64_t now_us, const char *host);

void note_clear(struct note *n);

/* Counts e into d (d->start_us set at the first). */
void digest_add(struct digest *d, const struct event *e, uint64_t now_us);

/* n as the HTTP body type t posts (JSON, malloc'd, NUL-terminated, length
 * in *len), or NULL without memory. Not for NOTIFY_MAIL. */
char *note_payload(enum notify_type t, const struct note *n, size_t *len);

/* Who a mail is from and to, and when it is made. */
struct mail_hdr {
	const char *from;           /* "" leaves it to the MTA */
	const char *to;
	const char *host;           /* in the subject and the Message-ID */
	uint64_t now_us;            /* its Date */
	uint64_t seq;               /* makes the Message-ID unique */
};

/* n as an RFC 5322 message for `sendmail -t -i`: From, To, Subject, Date,
 * Message-ID, then the text. malloc'd, or NULL. */
char *note_mail(const struct note *n, const struct mail_hdr *h, size_t *len);

#endif
