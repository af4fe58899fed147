/* fmt.h - text built piece by piece into a fixed buffer. */
#ifndef DOSIPS_FMT_H
#define DOSIPS_FMT_H

#include <stddef.h>

/* Appends fmt to buf (len bytes) at *at, never past len. On overflow *at
 * ends at len or beyond, so the caller sees it by *at >= len. */
void fmt_append(char *buf, size_t len, size_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
