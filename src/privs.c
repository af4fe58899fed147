/* privs.c - least privilege with libcap-ng, once everything is open. */
#include <cap-ng.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privs.h"

int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);

	if (!res) {
		snprintf(err, errlen, "user %s: %s", user, r ? strerror(r) : "no such user");
		return r ? -r : -ENOENT;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

/* Keeps of the two capabilities (four with setid, for hook_user) those the
 * process has: a partly privileged start (replay with CAP_NET_RAW only) is
 * not an error. */
static void keep_net_caps(bool setid)
{
	static const unsigned keep[] = { CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID, CAP_SETGID };
	int have[4], n = setid ? 4 : 2;

	for (int i = 0; i < n; i++)
		have[i] = capng_have_capability(CAPNG_PERMITTED, keep[i]);
	capng_clear(CAPNG_SELECT_ALL);
	for (int i = 0; i < n; i++)
		if (have[i])
			capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, keep[i]);
}

const char *privs_target(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	int r;

	*uid = geteuid();
	*gid = getegid();
	if (!*user || (r = privs_lookup_user(user, uid, gid, err, errlen)) == 0)
		return user;
	return r == -ENOENT && strcmp(user, PRIVS_DEFAULT_USER) == 0 ? "" : NULL;
}

static int drop(const char *user, bool setid, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	int r, setpcap, change;

	if (!(user = privs_target(user, &uid, &gid, err, errlen)))
		return -ENOENT;
	if (capng_get_caps_process() < 0) {
		snprintf(err, errlen, "cannot read this process's capabilities: %s",
			 strerror(errno));
		return -EPERM;
	}
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE) {
		if (uid == geteuid())
			return 1;
		snprintf(err, errlen, "cannot become user %s: not started as root", user);
		return -EPERM;
	}
	/* Emptying the bounding set takes CAP_SETPCAP, which a service
	 * manager may already have withheld (CapabilityBoundingSet=): then
	 * the bounding set it left is the limit. */
	setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	change = uid != geteuid() || gid != getegid();
	keep_net_caps(setid);
	if (change)
		r = capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP |
				    (setpcap ? CAPNG_CLEAR_BOUNDING : 0));
	else
		r = capng_apply(setpcap ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
	if (r < 0 && change)
		snprintf(err, errlen, "cannot change to user %s keeping CAP_NET_ADMIN and "
			 "CAP_NET_RAW (needs CAP_SETUID and CAP_SETGID; libcap-ng error %d)",
			 user, r);
	else if (r < 0)
		snprintf(err, errlen, "cannot drop capabilities (libcap-ng error %d)", r);
	return r < 0 ? -EPERM : 0;
}

int privs_drop(const char *user, bool setid, char *err, size_t errlen)
{
	int r = drop(user, setid, err, errlen);

	if (r >= 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -errno;
	}
	return r;
}
