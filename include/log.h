/* log.h - the daemon's diagnostics: stderr or syslog, one line each. */
#ifndef DOSIPS_LOG_H
#define DOSIPS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sends lines to syslog (use_syslog) or stderr; shows up to max_level. */
void log_init(const char *ident, int use_syslog, enum log_level max_level);

/* Sets the most verbose level shown. */
void log_set_level(enum log_level max_level);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs at err level and exits with status 1. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
