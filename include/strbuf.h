/* strbuf.h - a growing text buffer for replies built piece by piece. */
#ifndef DOSIPS_STRBUF_H
#define DOSIPS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Zero-initialise; a failed allocation marks it broken and later appends
 * do nothing, so callers check once at the end. */
struct strbuf {
	char *p;
	size_t len, cap;
	bool broken;
};

/* Appends formatted text. */
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string, quotes included. */
void sb_json_str(struct strbuf *b, const char *s);

/* The text (NUL-terminated, malloc'd, its length in *len) handed to the
 * caller, or NULL if the buffer broke (then it is freed). */
char *sb_take(struct strbuf *b, size_t *len);

#endif
