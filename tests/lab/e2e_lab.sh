#!/bin/sh
# e2e_lab.sh - the lab itself, before any test trusts it: its hosts reach
# each other over IPv4 and IPv6, two labs run side by side, a lab killed or
# failing tears itself down (namespaces and processes), `lab.sh clean`
# removes a dead run's leftovers, and the root namespace's interfaces and
# nftables ruleset are the same afterwards.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB=$TOP/scripts/lab.sh
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces)"; exit 77; }
for t in ip nft hping3 nc; do
	command -v $t >/dev/null || { echo "skipped: $t is not installed (sh scripts/deps.sh)"; exit 77; }
done
. "$TOP/tests/common.sh"
T=$(mktemp -d /tmp/dosips-labtest.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

root_state() { { ip -o link | sed 's/^[0-9]*: //; s/ state .*//'; nft list ruleset; } | md5sum; }
lab_left() { ip netns list | awk -v p="$1-" 'index($1, p) == 1' | wc -l; }

before=$(root_state)

# One lab, checked by its own lab_check (both families, TCP with data, UDP).
out=$(sh "$LAB" check 2>&1) && ok "lab.sh check:" || bad "lab.sh check failed:"
printf '%s\n' "$out" | sed 's/^/     /'

# Two at once, each with its own names; each dies by a signal mid-way and
# must leave nothing behind.
start_lab() { # NAME: a lab in the background that waits to be killed; pid in $lab_pid
	LAB_LIB=1 sh -c '. "$1"; lab_init; lab_trap; lab_up && lab_services || exit 1
		echo "$LAB_PFX $(ip netns pids "$LAB_VICTIM" | tr "\n" " ")" >"$2.up"
		sleep 30 & LAB_PIDS="$LAB_PIDS $!"; wait' lab "$LAB" "$T/$1" >"$T/$1.log" 2>&1 &
	lab_pid=$!
}
start_lab one; p1=$lab_pid
start_lab two; p2=$lab_pid
i=0
while { [ ! -s "$T/one.up" ] || [ ! -s "$T/two.up" ]; } && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
read -r pfx1 vpids1 <"$T/one.up" 2>/dev/null
read -r pfx2 vpids2 <"$T/two.up" 2>/dev/null
if [ -n "${pfx1:-}" ] && [ -n "${pfx2:-}" ] && [ "$pfx1" != "$pfx2" ] &&
   [ "$(lab_left "$pfx1")" -eq 4 ] && [ "$(lab_left "$pfx2")" -eq 4 ]; then
	ok "two labs side by side: $pfx1 and $pfx2, 4 namespaces each"
else
	bad "two labs did not come up side by side"; cat "$T/one.log" "$T/two.log"
fi
# (INT is ignored by background jobs of a script, so HUP stands in for it.)
kill -TERM "$p1"; kill -HUP "$p2"
wait "$p1" "$p2" 2>/dev/null
left=0
for p in ${vpids1:-} ${vpids2:-}; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
[ "$(lab_left "${pfx1:-x}")" -eq 0 ] && [ "$(lab_left "${pfx2:-x}")" -eq 0 ] && [ $left -eq 0 ] &&
	ok "killed by TERM and HUP: both labs gone, their services ended" ||
	bad "a killed lab left $(lab_left "${pfx1:-x}")+$(lab_left "${pfx2:-x}") namespaces, $left processes"

# A failure half-way (the namespace it wants exists already) cleans up too,
# without touching the namespace it found.
pfx3=dl$$x
ip netns add "$pfx3-client"
LAB_LIB=1 sh -c '. "$1"; lab_init "$2"; lab_trap; lab_up' lab "$LAB" "$pfx3" >/dev/null 2>&1 &&
	bad "lab_up succeeded over an existing namespace" ||
	{ [ "$(lab_left "$pfx3")" -eq 1 ] && ok "a lab that cannot start fails and leaves others' namespaces alone" ||
		bad "a failed lab_up left $(lab_left "$pfx3") namespaces of $pfx3 (want only the pre-existing one)"; }
ip netns del "$pfx3-client"
LAB_LIB=1 sh -c '. "$1"; lab_init "$2"; lab_trap; lab_up && false' lab "$LAB" "$pfx3" >/dev/null 2>&1
[ "$(lab_left "$pfx3")" -eq 0 ] && ok "a test failing after lab_up leaves no namespace" ||
	bad "a failing test left $(lab_left "$pfx3") namespaces"

# Leftovers of a run that died without its trap (kill -9) go with `clean`.
sh -c 'exit 0' & dead=$!; wait $dead
for r in victim br; do ip netns add "dl$dead-$r"; done
sh "$LAB" clean "dl$dead" >/dev/null
[ "$(lab_left "dl$dead")" -eq 0 ] && ok "lab.sh clean removed a dead run's namespaces" ||
	{ bad "lab.sh clean left dl$dead"; for r in victim br; do ip netns del "dl$dead-$r"; done; }
ip netns add "dl$$-victim"
sh "$LAB" clean "dl$$" >/dev/null
[ "$(lab_left "dl$$")" -eq 1 ] && ok "lab.sh clean leaves a live run's namespaces alone" ||
	bad "lab.sh clean removed a live run's namespace"
ip netns del "dl$$-victim" 2>/dev/null

[ "$(root_state)" = "$before" ] && ok "root namespace: interfaces and nftables ruleset unchanged" ||
	bad "the root namespace's interfaces or ruleset changed"
[ $T_FAILED -eq 0 ] && echo "PASS lab" || { echo "FAIL lab"; exit 1; }
