/* privs.h - after set-up, keep only what a running dosips needs. */
#ifndef DOSIPS_PRIVS_H
#define DOSIPS_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Finds user's uid and primary gid; 0, or -errno with "user NAME: why"
 * in err. */
int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Drops every capability but CAP_NET_ADMIN and CAP_NET_RAW (kept for the
 * nftables socket and the capture), and CAP_SETUID and CAP_SETGID too with
 * setid (hooks run as hook_user), and empties the bounding set where it
 * may; with user not "", becomes that user and its group, keeping those.
 * Returns 0 when dropped, 1 when there was nothing to drop (no
 * capabilities: not started as root), or -errno with a sentence in err. */
int privs_drop(const char *user, bool setid, char *err, size_t errlen);

#endif
