/* privs.h - after set-up, keep only what a running dosips needs. */
#ifndef DOSIPS_PRIVS_H
#define DOSIPS_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The user dosips becomes by default, if that account exists (make
 * install creates it); without it dosips stays root with only its two
 * capabilities, so a build tree runs as before. */
#define PRIVS_DEFAULT_USER "dosips"

/* The user to become: user, or "" when user is the default and there is
 * no such account; NULL (with "user NAME: why" in err) for another user
 * that cannot be found. Its uid and gid in *uid, *gid ("" : the current). */
const char *privs_target(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Finds user's uid and primary gid; 0, or -errno with "user NAME: why"
 * in err. */
int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Drops every capability but CAP_NET_ADMIN and CAP_NET_RAW (kept for the
 * nftables socket and the capture), and CAP_SETUID and CAP_SETGID too with
 * setid (hooks run as hook_user), and empties the bounding set where it
 * may; becomes the user privs_target names, keeping those; and sets
 * no_new_privs, so nothing dosips runs can gain privileges by exec.
 * Returns 0 when dropped, 1 when there was nothing to drop (no
 * capabilities: not started as root), or -errno with a sentence in err. */
int privs_drop(const char *user, bool setid, char *err, size_t errlen);

#endif
