#!/bin/sh
# pcapng replays: the direction an enhanced packet block records
# (epb_flags) is the packet's. The generator's udpflood capture
# (tests/tools/mkpcap.c: 198.19.0.2 floods, alert at the 200th datagram)
# rewritten as pcapng by tests/tools/mkpcapng.c:
#  - without flags, or with the flood flagged inbound, it replays exactly as
#    the pcap file does (tests/replay/expected/udpflood.jsonl);
#  - flagged outbound, the capture was taken on the flooder itself: the
#    host's own packets, never a subject, so no event at all; the same in
#    either byte order, in nanoseconds, with blocks to skip and simple
#    packet blocks (no flags) among them, and with workers = 2.
set -u
BIN=$TOP/build/release/dosips
T=$TOP/build/release/tools
EXP=$TOP/tests/replay/expected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

"$T/mkpcap" -o "$tmp/u.pcap" -s udpflood >/dev/null 2>&1 || { echo "FAIL mkpcap"; exit 1; }

# run NAME CONF MKPCAPNG-OPTIONS...: replays the rewritten capture; its
# events in $tmp/NAME.jsonl, its report in $tmp/NAME.err.
run() {
	name=$1 conf=$2; shift 2
	if ! "$T/mkpcapng" "$tmp/u.pcap" "$tmp/$name.pcapng" "$@" 2>"$tmp/$name.mk"; then
		echo "FAIL $name: mkpcapng"; cat "$tmp/$name.mk"; fail=1; return 1
	fi
	if ! "$BIN" -r "$tmp/$name.pcapng" --dry-run --events - -c "$conf" -w /dev/null \
		>"$tmp/$name.jsonl" 2>"$tmp/$name.err"; then
		echo "FAIL $name: dosips exited non-zero"; cat "$tmp/$name.err"; fail=1; return 1
	fi
}

# same NAME CONF OPTIONS...: the events of the pcap file.
same() {
	name=$1
	run "$@" || return
	if diff -u "$EXP/udpflood.jsonl" "$tmp/$name.jsonl"; then
		echo "ok   $name: the pcap file's events"
	else
		echo "FAIL $name: not the pcap file's events"; fail=1
	fi
}

# none NAME CONF FLAGGED OPTIONS...: no event, every flagged packet counted
# as the host's own (not_subject) and as having a direction.
none() {
	name=$1 conf=$2 n=$3; shift 3
	run "$name" "$conf" "$@" || return
	if [ -s "$tmp/$name.jsonl" ]; then
		echo "FAIL $name: events for the host's own packets:"; cat "$tmp/$name.jsonl"; fail=1
	elif ! grep -q "file_directions=$n\b" "$tmp/$name.err" ||
	     ! grep -q "not_subject=$n\b" "$tmp/$name.err"; then
		echo "FAIL $name: want $n packets with a direction, all not subjects:"
		grep report "$tmp/$name.err"; fail=1
	else
		echo "ok   $name: no event, $n packets the host's own"
	fi
}

printf 'workers = 2\n' >"$tmp/w2.conf"
same noflags /dev/null --no-flags
same inbound /dev/null --out 198.18.255.1
same inbound-w2 "$tmp/w2.conf" --out 198.18.255.1
none outbound /dev/null 300 --out 198.19.0.2
none outbound-swapped-ns /dev/null 300 --out 198.19.0.2 --swap --ns --extra
none outbound-spb /dev/null 240 --out 198.19.0.2 --spb 5 --extra
none outbound-w2 "$tmp/w2.conf" 300 --out 198.19.0.2
exit $fail
