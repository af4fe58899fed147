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
trap 'rm -f "$tmp" "$tmp.log" "$tmp.conf"' EXIT
fail=0

# alerts FILE: "kind src" of every alert and whitelisted event, sorted
# (src "null" for a per-target alert). $ARGS are more options for dosips,
# $CONF its configuration file.
ARGS=""
CONF=/dev/null
alerts() {
	# shellcheck disable=SC2086
	"$BIN" -c "$CONF" -w /dev/null -r "$CAP/$1" --dry-run --events - $ARGS 2>"$tmp.log" \
		>"$tmp" || echo "dosips-failed"
	sed -n 's/.*"event":"alert","src":"*\([^",]*\)"*,"kind":"\([^"]*\)".*/\2 \1/p' "$tmp" |
		sort
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
# field KEY: the value of "KEY" in the first alert of the last run.
field() {
	sed -n "1s/.*\"$1\":\"*\([^\",}]*\).*/\1/p" "$tmp"
}

# technique WANT: the first alert names the scan's technique WANT.
technique() {
	got=$(field technique)
	[ "$got" = "$1" ] && echo "ok   technique $1" ||
		{ echo "FAIL technique: want $1, got '$got'"; fail=1; }
}

# A bar of its own for the flood's service, DNS ([udp_flood port=53] in
# dosips.conf(5)): crossed at its 300th datagram, named in the alert; a
# bar of 1000 is not crossed; a bar for another port changes nothing.
CONF=$tmp.conf
printf '[udp_flood port=53]\nthreshold = 300\n' >"$CONF"
expect hping3-udp-flood.pcap "udp_flood 198.18.0.3" 300 "src 198.18.0.3 and udp"
[ "$(field port)" = 53 ] && [ "$(field service)" = true ] && [ "$(field threshold)" = 300 ] &&
	echo "ok   the alert names service port 53 and its bar" ||
	{ echo "FAIL service alert: port $(field port), service $(field service)"; fail=1; }
printf '[udp_flood port=53]\nthreshold = 1000\n' >"$CONF"
expect hping3-udp-flood.pcap ""
printf '[udp_flood port=5353]\nthreshold = 1000\n[syn_flood port=53]\nthreshold = 5\n' >"$CONF"
expect hping3-udp-flood.pcap "udp_flood 198.18.0.3" 200 "src 198.18.0.3 and udp"
CONF=/dev/null

# Every scan nmap makes: the 20th probe (one a port, or an IP protocol for
# -sO, as tcpdump counts them from the attacker) is the crossing packet.
A='src 198.18.0.3'
FLAGS='tcp[tcpflags] & 0x3f'
expect nmap-connect-scan.pcap "port_scan 198.18.0.3" 20 "$A and $SYN"; technique syn
expect nmap-fin-scan.pcap "port_scan 198.18.0.3" 20 "$A and $FLAGS == 0x01"; technique fin
expect nmap-xmas-scan.pcap "port_scan 198.18.0.3" 20 "$A and $FLAGS == 0x29"; technique xmas
expect nmap-null-scan.pcap "port_scan 198.18.0.3" 20 "$A and tcp and $FLAGS == 0"; technique null
expect nmap-ack-scan.pcap "port_scan 198.18.0.3" 20 "$A and $FLAGS == 0x10"; technique ack
expect nmap-maimon-scan.pcap "port_scan 198.18.0.3" 20 "$A and $FLAGS == 0x11"; technique maimon
expect nmap-window-scan.pcap "port_scan 198.18.0.3" 20 "$A and $FLAGS == 0x10"; technique ack
expect nmap-udp-scan.pcap "port_scan 198.18.0.3" 20 "$A and udp"; technique udp
expect nmap-ipproto-scan.pcap "port_scan 198.18.0.3" 20 "$A and not icmp"; technique ipproto

# Conversations the host answers are never alerted: a UDP stream of 1000
# datagrams a second for 5 s, echoed; a 50 pps call both ways.
count() { tcpdump -nr "$CAP/$1" "$2" 2>/dev/null | wc -l; }
n=$(count udp-answered-stream.pcap "src 198.18.0.2 and udp") a=$(count udp-answered-stream.pcap "src 198.18.0.1 and udp")
[ "$n" -ge 5000 ] && [ "$a" -ge 4000 ] || { echo "FAIL udp-answered-stream.pcap: $n sent, $a answered"; fail=1; }
expect udp-answered-stream.pcap ""
n=$(count udp-call.pcap "src 198.18.0.2 and udp") a=$(count udp-call.pcap "src 198.18.0.1 and udp")
[ "$n" -ge 480 ] && [ "$a" -ge 480 ] || { echo "FAIL udp-call.pcap: $n and $a datagrams"; fail=1; }
expect udp-call.pcap ""

# 300 datagrams from 0.0.0.0 and 300 from a multicast source: no alert, and
# each counted in the report by its reason, as many as tcpdump finds.
expect bogus-sources.pcap ""
for r in "src_unspecified:src net 0.0.0.0/8" "src_multicast:src net 224.0.0.0/4"; do
	want=$(count bogus-sources.pcap "${r#*:}")
	got=$(grep -o " skipped.${r%%:*}=[0-9]*" "$tmp.log" | cut -d= -f2)
	[ "$got" = "$want" ] && [ "$want" -gt 0 ] && echo "ok   bogus-sources.pcap: ${r%%:*}=$got" ||
		{ echo "FAIL bogus-sources.pcap: ${r%%:*}=$got, tcpdump '${r#*:}' counts $want"; fail=1; }
done

# Packet time stepping back an hour half way: no one is banned.
expect clock-step.pcap ""

# Answers from port 53 that the victim never asked for, from many
# reflectors: one reflection alert for the target, at the 20th distinct
# reflector (bogus sources are never one).
REFL='udp src port 53 and not src net 0.0.0.0/8 and not src net 127.0.0.0/8 and not src net 224.0.0.0/3'
[ "$(tcpdump -nr "$CAP/reflection.pcap" "$REFL" 2>/dev/null | head -n 20 | awk '{ print $3 }' |
	sed 's/\.[0-9]*$//' | sort -u | wc -l)" -eq 20 ] || { echo "FAIL reflection.pcap: repeated reflectors"; fail=1; }
expect reflection.pcap "reflection null" 20 "$REFL"
[ "$(field dst)" = 198.18.0.1 ] && [ "$(field port)" = 53 ] && echo "ok   reflection: dst 198.18.0.1, port 53" ||
	{ echo "FAIL reflection: dst $(field dst), port $(field port)"; fail=1; }

# The victim's own 300 datagrams at 1000 a second: a subject only when
# nothing says they are its own. --local says it on Ethernet; the packet
# type of Linux cooked frames says it by itself.
expect victim-sends.pcap "udp_flood 198.18.0.1"
ARGS="--local 198.18.0.1,2001:db8:0:1::1"
expect victim-sends.pcap ""
ARGS=""
expect victim-sends-sll2.pcap ""
exit $fail
