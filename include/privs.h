/* privs.h - after set-up, keep only what a running dosips needs. */
#ifndef DOSIPS_PRIVS_H
#define DOSIPS_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

/* Finds user's uid and primary gid; 0, or -errno with "user NAME: why"
 * in err. */
int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Drops every capability but CAP_NET_ADMIN and CAP_NET_RAW (kept for the
 * nftables socket and the capture) and empties the bounding set, so hooks
 * start with none; with user not "", becomes that user and its group,
 * keeping those two. Returns 0 when dropped, 1 when there was nothing to
 * drop (no capabilities: not started as root), or -errno with a sentence
 * in err. */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
