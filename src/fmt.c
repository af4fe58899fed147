/* fmt.c - text built piece by piece into a fixed buffer: the events' JSON
 * line, a notification's sentence. */
#include <stdarg.h>
#include <stdio.h>

#include "fmt.h"

void fmt_append(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	*at += w < 0 ? len : (size_t)w;
}
