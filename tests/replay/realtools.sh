#!/bin/sh
# Captures made by real tools in the lab (scripts/record-captures.sh:
# nmap, hping3, nping as the attacker 198.18.0.3 / 2001:db8:0:2::3, nc and
# ping as the client 198.18.0.2, both directions recorded on the victim
# 198.18.0.1) replayed with --dry-run. Each attacker is alerted with the
# right kind, at the very packet that crosses the threshold (tcpdump finds
# that packet independently); the victim and the client never are.
set -u
BIN=$TOP/build/release/dosips
CAP=$TOP/tests/captures
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
fail=0

# alerts FILE: "kind src" of every alert and whitelisted event, sorted.
alerts() {
	"$BIN" -c /dev/null -w /dev/null -r "$CAP/$1" --dry-run --events - 2>/dev/null >"$tmp" ||
		echo "dosips-failed"
	sed -n 's/.*"event":"alert","src":"\([^"]*\)","kind":"\([^"]*\)".*/\2 \1/p' "$tmp" | sort
}

# epoch RFC3339: seconds.micros since the epoch, as tcpdump -tt prints.
epoch() {
	printf '%s.%s\n' "$(date -u -d "$(echo "$1" | cut -c1-19)" +%s)" "$(echo "$1" | cut -c21-26)"
}

# expect FILE "WANT" [N FILTER]: the alerts are exactly WANT (lines "kind
# src"); with N and FILTER, the first alert's time is that of the Nth
# packet tcpdump matches with FILTER.
expect() {
	got=$(alerts "$1")
	if [ "$got" != "$2" ]; then
		echo "FAIL $1: alerts"; echo "  want: $2" | tr '\n' ';'; echo; echo "  got:  $got" | tr '\n' ';'; echo
		fail=1; return
	fi
	if [ $# -ge 4 ]; then
		ts=$(sed -n '1s/.*"ts":"\([^"]*\)".*/\1/p' "$tmp")
		at=$(epoch "$ts")
		nth=$(tcpdump -tt -nr "$CAP/$1" "$4" 2>/dev/null | sed -n "${3}p" | cut -d' ' -f1)
		if [ "$at" != "$nth" ]; then
			echo "FAIL $1: alert at $at, but packet $3 of '$4' is at $nth"; fail=1; return
		fi
		echo "ok   $1: $(echo "$2" | tr '\n' ' ')at packet $3 ($at)"
		return
	fi
	echo "ok   $1: ${2:-no alert}"
}

SYN='tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'
expect benign.pcap ""
expect nmap-syn-scan.pcap "port_scan 198.18.0.3"
expect hping3-syn-flood.pcap "syn_flood 198.18.0.3" 100 "src 198.18.0.3 and $SYN"
expect hping3-udp-flood.pcap "udp_flood 198.18.0.3" 200 "src 198.18.0.3 and udp"
expect hping3-icmp-flood.pcap "icmp_flood 198.18.0.3" 50 "src 198.18.0.3 and icmp[icmptype] == icmp-echo"
expect nping-syn-flood-v6.pcap "syn_flood 2001:db8:0:2::/64" 100 \
	"src net 2001:db8:0:2::/64 and ip6[40+13] & 0x12 == 0x02"
exit $fail
