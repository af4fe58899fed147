# ns.sh - shared by the lab tests that need one network namespace of their
# own rather than the whole lab (ctl_pressure, hooks_caps, files_user); the
# runner does not run it by itself.
#
# ns_init NAME TOOL...: skips (77) without root or one of the tools, fails
# without a build; sets TOP, BIN (DOSIPS_BUILD, default build/release), N
# (a namespace, loopback up), T (a scratch directory, mode 0755 so that
# nobody reaches into it) and NOGROUP, and on any exit kills $DPID and
# $NS_PIDS and removes both. ok/bad/check report; ns_done closes.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DOSIPS_BUILD:-$TOP/build/release}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
DPID=""
NS_PIDS=""

. "$TOP/tests/common.sh"
# wait_for COMMAND...: up to 5 s for it to succeed
wait_for() { _i=0; while ! "$@"; do _i=$((_i + 1)); [ $_i -gt 100 ] && return 1; sleep 0.05; done; }

ns_cleanup() {
	for _p in $DPID $NS_PIDS; do kill -9 "$_p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$N" 2>/dev/null
	rm -rf "$T"
}

ns_init() {
	NS_NAME=$1; shift
	[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces)"; exit 77; }
	for _t in ip "$@"; do
		command -v "$_t" >/dev/null ||
			{ echo "skipped: $_t not installed (sh scripts/deps.sh)"; exit 77; }
	done
	[ -x "$BIN/dosips" ] && [ -x "$BIN/dosipsctl" ] ||
		{ echo "FAIL build first: make all tests"; exit 1; }
	N=dos$NS_NAME-$$
	T=$(mktemp -d "/tmp/dosips-$NS_NAME.XXXXXX")
	chmod 755 "$T"
	NOGROUP=$(id -gn nobody)
	trap ns_cleanup EXIT
	trap 'exit 1' INT TERM
	ip netns add "$N" || exit 1
	ip -n "$N" link set lo up
}

# ns_done LOG: the verdict, with the daemon's log on failure.
ns_done() {
	[ $T_FAILED -eq 0 ] || { echo "--- daemon log"; tail -n 20 "$1"; exit 1; }
	echo "all $NS_NAME checks passed"
}
