#!/bin/sh
# nft_backend.sh - the nftables backend against a real kernel, through
# tests/tools/fwtool: table layout, ban timeouts and their refresh, expiry,
# IPv6 /64 bans, the allow sets, drops counted on real traffic, restore
# after `nft flush ruleset`, bulk bans, and errors reported in words.
# Two namespaces of our own joined by a veth pair; addresses in
# 198.18.0.0/15 and 2001:db8::/32 only. Needs root.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft hping3 nc timeout; do
	command -v $t >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
FWTOOL=${FWTOOL:-$TOP/build/release/tools/fwtool}
[ -x "$FWTOOL" ] || { echo "build first: make tests"; exit 1; }

V=dosfw-v-$$
A=dosfw-a-$$
T=$(mktemp -d /tmp/dosips-fw.XXXXXX)
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	ip netns del "$V" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

. "$TOP/tests/common.sh"
in_v() { ip netns exec "$V" "$@"; }
in_a() { ip netns exec "$A" "$@"; }
fw() { in_v "$FWTOOL" -d v0 "$@"; }
quiet() { "$@" >/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# nft's "1m39s980ms" (or "7s", "980ms") in milliseconds
to_ms() {
	echo "$1" | awk '{ s = $0; t = 0
		if (match(s, /[0-9]+d/)) t += substr(s, RSTART, RLENGTH - 1) * 86400000
		if (match(s, /[0-9]+h/)) t += substr(s, RSTART, RLENGTH - 1) * 3600000
		if (match(s, /[0-9]+m([0-9]|$)/)) t += substr(s, RSTART, RLENGTH) * 60000
		if (match(s, /[0-9]+s/)) t += substr(s, RSTART, RLENGTH - 1) * 1000
		if (match(s, /[0-9]+ms/)) t += substr(s, RSTART, RLENGTH - 2)
		print t }'
}
# time left in ms of element $2 of set $1, from `nft list set`; empty if absent
expires_ms() {
	e=$(in_v nft list set inet dosips "$1" 2>/dev/null | tr ',{}' '\n\n\n' |
	    grep -F " $2 timeout" | sed -n 's/.* expires \([0-9dhms]*\).*/\1/p' | head -n 1)
	[ -n "$e" ] && to_ms "$e"
}
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }  # VALUE LO HI
in_set() { in_v nft list set inet dosips "$1" 2>/dev/null | tr ',{}' '\n\n\n' | grep -qF " $2"; }
not_in_set() { ! in_set "$@"; }
# packets counted by the drop rule of set $1
drops() {
	in_v nft list chain inet dosips ingress |
		sed -n "s/.*saddr @$1 counter packets \([0-9]*\) .*/\1/p"
}
# ICMP echo from the attacker: true when the victim answered
pings() { in_a timeout 5 hping3 -1 -c 2 -i u200000 198.18.0.1 >/dev/null 2>&1; }
no_pings() { ! pings; }
count_elems() { in_v nft list set inet "$1" "$2" | tr ',' '\n' | grep -c "timeout [0-9]"; }
wait_for() { i=0; while ! "$@"; do i=$((i + 1)); [ $i -gt 40 ] && return 1; sleep 0.05; done; }

ip netns add "$V" && ip netns add "$A" || exit 1
ip link add v0 netns "$V" type veth peer name a0 netns "$A" || exit 1
ip -n "$V" addr add 198.18.0.1/24 dev v0
ip -n "$A" addr add 198.18.0.2/24 dev a0
ip -n "$V" addr add 2001:db8::1/64 dev v0 nodad
ip -n "$A" addr add 2001:db8::2/64 dev a0 nodad
for ns in "$V" "$A"; do ip -n "$ns" link set lo up; done
ip -n "$V" link set v0 up
ip -n "$A" link set a0 up
check "traffic flows before any ban" pings

# -- layout
fw init >/dev/null
R=$(in_v nft list table inet dosips)
check "init creates ban4 ban6 allow4 allow6 and the ingress chain" \
	sh -c 'for w in "set ban4" "set ban6" "set allow4" "set allow6" \
		"hook ingress device \"v0\"" "flags interval,timeout"; do
		printf "%s\n" "$1" | grep -qF "$w" || exit 1; done' - "$R"
check "allow rules come before the drop rules" \
	sh -c 'printf "%s\n" "$1" | grep -E "@(allow|ban)" | head -n 2 | grep -q allow4' - "$R"

# -- a ban, its timeout, real drops
fw ban 198.18.0.2 8000 >"$T/out"
ms=$(expires_ms ban4 198.18.0.2)
check "ban appears with a timeout close to 8 s ($ms ms left)" between "$ms" 7000 8000
check "the banned source's packets are dropped" no_pings
d=$(drops ban4)
check "the drop rule counted them ($d packets)" between "$d" 1 1000
check "single ban committed: $(cat "$T/out")" grep -q "committed 1 changes" "$T/out"

# -- a re-ban refreshes the timeout, both ways
fw ban 198.18.0.2 30000 >/dev/null
ms=$(expires_ms ban4 198.18.0.2)
check "re-ban for 30 s extends it ($ms ms left)" between "$ms" 29000 30000
fw ban 198.18.0.2 3000 >/dev/null
ms=$(expires_ms ban4 198.18.0.2)
check "re-ban for 3 s restarts it ($ms ms left)" between "$ms" 2000 3000

# -- expiry, and unban of what is already gone
fw ban 198.18.0.9 1500 >/dev/null
check "short ban present" in_set ban4 198.18.0.9
sleep 2
check "element expired by the kernel's timeout" not_in_set ban4 198.18.0.9
check "unban of an expired element is not an error" quiet fw unban 198.18.0.9
check "unban of a never-banned element is not an error" \
	quiet fw unban 198.18.44.44 2001:db8:44::/64

# -- IPv6 prefixes
fw ban 2001:db8:0:1::/64 20000 >/dev/null
ms=$(expires_ms ban6 2001:db8:0:1::/64)
check "IPv6 /64 ban listed as a prefix ($ms ms left)" between "$ms" 19000 20000
fw ban 2001:db8::/64 20000 >/dev/null
printf x | in_a timeout 3 nc -6 -u -w 1 2001:db8::1 9 >/dev/null 2>&1
check "the /64 drops its sources' packets ($(drops ban6) counted)" between "$(drops ban6)" 1 1000
fw unban 2001:db8::/64 >/dev/null
check "IPv6 unban removes it" not_in_set ban6 2001:db8::/64
check "IPv6 unban leaves the other /64" in_set ban6 2001:db8:0:1::/64

# -- the allow sets win over a ban
fw ban 198.18.0.2 60000 >/dev/null
fw allow 198.18.0.0/28 2001:db8:ffff::/48 >/dev/null
check "allow set holds the whitelist prefix" in_set allow4 198.18.0.0/28
d0=$(drops ban4)
check "a whitelisted source passes despite its ban" pings
check "and its packets are not counted as drops" test "$(drops ban4)" = "$d0"
fw allow >/dev/null
check "an empty whitelist empties the allow sets" not_in_set allow4 198.18.0.0/28
check "without the allow entry the ban drops again" no_pings
fw unban 198.18.0.2 >/dev/null
check "unban lets traffic through" pings

# -- restart: an existing table is adopted as it is
fw ban 198.18.0.7 60000 198.18.0.8 60000 >/dev/null
fw init >/dev/null
check "a second start keeps the bans (table adopted, not flushed)" in_set ban4 198.18.0.8
fw list >"$T/list"
check "fwtool list reads them back with their time left" grep -q '^198.18.0.8 5[0-9]\{4\}$' "$T/list"

# -- nft flush ruleset: the monitor puts table and bans back
fw monitor 5 >"$T/mon" 2>&1 &
pids="$pids $!"
wait_for grep -q watching "$T/mon"
t0=$(now_ms)
in_v nft flush ruleset
wait_for in_set ban4 198.18.0.8
t1=$(now_ms)
check "table restored after flush ruleset, within a second ($((t1 - t0)) ms)" \
	sh -c "[ $((t1 - t0)) -le 1000 ] && grep -q 'restored table with' $T/mon"
ms=$(expires_ms ban4 198.18.0.8)
check "restored ban keeps its remaining time ($ms ms)" between "$ms" 40000 59999
t0=$(now_ms)
in_v nft delete table inet dosips
wait_for in_set ban4 198.18.0.7
t1=$(now_ms)
check "table restored after delete table ($((t1 - t0)) ms)" test $((t1 - t0)) -le 1000
in_v nft flush chain inet dosips ingress
wait_for sh -c "ip netns exec $V nft list chain inet dosips ingress | grep -q '@ban4'"
check "rules restored after flush chain" \
	sh -c "ip netns exec $V nft list chain inet dosips ingress | grep -q '@ban4 counter'"
wait
pids=""

# -- many bans in one batch
fw bulk 5000 198.18.100.0 60000 >"$T/bulk"
ms=$(sed -n 's/.* in \([0-9]*\)\..*/\1/p' "$T/bulk")
check "5000 bans in one batch: $(cat "$T/bulk")" between "$ms" 0 2000
check "all 5000 are in the set" test "$(count_elems dosips ban4)" -ge 5000
fw bulk 5000 198.18.100.0 30000 >"$T/bulk2"
ms=$(expires_ms ban4 198.18.119.135)
check "5000 re-bans refresh them all: $(cat "$T/bulk2") ($ms ms left on the last)" \
	between "$ms" 29000 30000
fw bulk 2000 2001:db8:5::1 60000 >"$T/bulk6"
check "2000 IPv6 bans: $(cat "$T/bulk6")" grep -q "committed 2000" "$T/bulk6"

# -- errors are reported, with the element and what it means
fw ban 198.18.100.0/24 5000 >/dev/null 2>"$T/err"
check "an overlapping ban fails with the element and its meaning" \
	grep -q "add element 198.18.100.0/24 in set ban4 (table inet dosips) failed: .*overlaps" "$T/err"
in_v "$FWTOOL" -d v0 -t small -s 4 bulk 12 198.18.9.1 60000 >/dev/null 2>"$T/err"
check "a full set is reported as such" grep -q "the set is full" "$T/err"
check "the bans that fit are kept" test "$(count_elems small ban4)" -eq 8
in_v "$FWTOOL" -d v0 -t small flush
check "a bad prefix is refused" sh -c "! ip netns exec $V $FWTOOL -d v0 ban 198.18.0.0/33 1000 2>/dev/null"

# -- other hooks, and flush
in_v "$FWTOOL" -t hooked -H input init >/dev/null
check "--hook input makes a filter chain on input" \
	sh -c "ip netns exec $V nft list chain inet hooked input | grep -q 'hook input'"
in_v "$FWTOOL" -t hooked -H input flush
fw flush
check "flush deletes the table" sh -c "! ip netns exec $V nft list table inet dosips >/dev/null 2>&1"
check "flush of a missing table is not an error" quiet fw flush

echo "$T_PASS passed, $T_FAIL failed"
[ "$T_FAIL" -eq 0 ]
