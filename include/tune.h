/* tune.h - settings changed from the page, into the configuration's text. */
#ifndef DOSIPS_TUNE_H
#define DOSIPS_TUNE_H

#include <stddef.h>
#include "config.h"

/* Reads path whole into *text (malloc'd; a missing file reads as "");
 * 0 or -errno. */
int tune_read(const char *path, char **text);

/* Sets each of set[0..n) in the configuration text in (keys as in the
 * file, "ban" or "syn_flood.threshold"): its live line is rewritten, else
 * a line goes after its commented default, else under its section (added
 * at the end when missing), or before the first section for a top-level
 * key. Comments and the rest stay as they are. *out is malloc'd. 0,
 * -EINVAL (a value with a newline or comment sign) or -ENOMEM. */
int tune_edit(const char *in, const struct config_setting *set, int n, char **out);

/* Replaces the file at path by text, through a temporary file in the same
 * directory renamed over it (the mode of the old file is kept); 0 or
 * -errno with a sentence in err. */
int tune_save(const char *path, const char *text, char *err, size_t errlen);

#endif
