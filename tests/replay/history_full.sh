#!/bin/sh
# history_full.sh - a full disk under the history stops no ban. The
# database lives on a 1 MiB tmpfs (in a mount namespace of its own, so
# nothing outside sees it) that a replay of tens of thousands of events
# fills: dosips must say so clearly, once, keep going, give exactly the
# events (and bans) of the same replay without history, exit 0, and leave
# a database that passes SQLite's integrity check.
set -u
BIN=$TOP/build/release
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (a tmpfs in a mount namespace)"; exit 77; }
for t in sqlite3 unshare; do
	command -v $t >/dev/null || { echo "skipped: $t not installed (sh scripts/deps.sh)"; exit 77; }
done
T=$(mktemp -d /tmp/dosips-hfull.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$TOP/tests/common.sh"

"$BIN/tools/mkpcap" -o "$T/mixed.pcap" -s mixed -n 100000 >/dev/null 2>&1 || exit 1
printf '198.18.0.0/16\n2001:db8::/32\n' >"$T/everyone"
printf 'log_interval = 0\ncooldown = 10ms\nwhitelist = %s\n[syn_flood]\nthreshold = 1\n' "$T/everyone" >"$T/many.conf"
run() { # EVENTS [HISTORY]
	"$BIN/dosips" -c "$T/many.conf" -r "$T/mixed.pcap" --dry-run \
		--events "$1" ${2:+--history "$2"}
}
run "$T/plain.json" >"$T/plain.log" 2>&1 || { bad "dosips without history failed"; exit 1; }

mkdir "$T/disk"
export T BIN
unshare -m --propagation private sh -c '
	mount -t tmpfs -o size=1m tmpfs "$T/disk" || exit 10
	"$BIN/dosips" -c "$T/many.conf" -r "$T/mixed.pcap" --dry-run \
		--events "$T/full.json" --history "$T/disk/history.db" >"$T/full.log" 2>&1
	echo $? >"$T/status"
	df -k "$T/disk" | tail -n 1 >"$T/df"
	sqlite3 "$T/disk/history.db" "PRAGMA integrity_check" >"$T/check" 2>&1
	sqlite3 "$T/disk/history.db" "SELECT count(*) FROM events" >"$T/rows" 2>&1
'
[ -s "$T/status" ] || { bad "could not mount a tmpfs in a mount namespace"; exit 1; }
st=$(cat "$T/status")
[ "$st" -eq 0 ] && ok "dosips exited 0 with the disk full" ||
	{ bad "dosips exited $st"; tail -n 5 "$T/full.log"; }
bans=$(grep -c '"event":"ban"' "$T/full.json")
[ "$bans" -ge 4 ] || bad "expected the four IPv4 attackers banned, got $bans bans"
if cmp -s "$T/plain.json" "$T/full.json"; then
	ok "the same $(wc -l <"$T/full.json") events, $(grep -c '"event":"ban"' "$T/full.json") bans, as without history"
else
	bad "events differ from the replay without history"
fi
n=$(grep -c 'history: cannot write .*disk .*is full; bans go on' "$T/full.log")
if [ "$n" -eq 1 ]; then
	ok "reported once: $(grep -m1 'history: cannot write' "$T/full.log" | cut -c1-150)..."
else
	bad "$n reports of the full disk, expected 1"; grep history "$T/full.log" | head -n 5
fi
[ "$(cat "$T/check")" = ok ] && ok "integrity_check on the full disk: ok" ||
	bad "integrity_check: $(cat "$T/check")"
[ "$(cat "$T/rows")" -gt 0 ] 2>/dev/null && ok "$(cat "$T/rows") rows stored before the disk filled, still readable" ||
	bad "rows stored: $(cat "$T/rows")"
note "tmpfs: $(cat "$T/df")"
grep 'report: history' "$T/full.log" | sed 's/^/     /'
exit $T_FAILED
