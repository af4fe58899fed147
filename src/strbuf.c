/* strbuf.c - a growing text buffer: the scrape and the page's JSON are
 * built with it and handed whole to the HTTP side, which frees them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static bool sb_room(struct strbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->broken)
		return false;
	if (b->len + need < b->cap)
		return true;
	while (cap <= b->len + need)
		cap *= 2;
	if (!(p = realloc(b->p, cap))) {
		b->broken = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!sb_room(b, 256))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->broken = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!sb_room(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void sb_json_str(struct strbuf *b, const char *s)
{
	if (!sb_room(b, 6 * strlen(s) + 3))
		return;
	b->p[b->len++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			b->len += (size_t)sprintf(b->p + b->len, "\\%c", c);
		else if (c < 0x20)
			b->len += (size_t)sprintf(b->p + b->len, "\\u%04x", c);
		else
			b->p[b->len++] = (char)c;
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

char *sb_take(struct strbuf *b, size_t *len)
{
	char *p;

	if (!sb_room(b, 1)) {
		free(b->p);
		*b = (struct strbuf){ 0 };
		return NULL;
	}
	b->p[b->len] = '\0';
	p = b->p;
	*len = b->len;
	*b = (struct strbuf){ 0 };
	return p;
}
