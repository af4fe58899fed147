#!/bin/sh
# Replay identity: `workers = 4` shards detection by source (the hash of the
# fanout program) and must give byte for byte the events of `workers = 1`,
# on the recorded captures and on synthetic ones with many sources, the
# ddos scenario among them (whose sources' shares are counted together).
# The mixed capture must spread over every shard, or the test proves
# nothing.
set -u
BIN=$TOP/build/release/dosips
MKPCAP=$TOP/build/release/tools/mkpcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

printf 'control_socket =\nworkers = 1\n' >"$tmp/w1.conf"
printf 'control_socket =\nworkers = 4\n' >"$tmp/w4.conf"

# quiet NAME: a capture of legitimate traffic, which must give no event
# (tests/replay/realtools.sh says why for each).
quiet() {
	case $1 in
	benign | captures-benign | captures-bogus-sources | captures-clock-step | \
	captures-udp-answered-stream | captures-udp-call | captures-victim-sends-sll2) return 0 ;;
	esac
	return 1
}

# same NAME PCAP: events of workers 1 and 4 equal, and not empty unless
# the capture is quiet.
same() {
	for n in 1 4; do
		if ! "$BIN" -r "$2" --dry-run -c "$tmp/w$n.conf" -w /dev/null \
			--events "$tmp/$1.$n.jsonl" >/dev/null 2>"$tmp/$1.$n.err"; then
			echo "FAIL $1: dosips (workers $n) exited non-zero"; cat "$tmp/$1.$n.err"
			fail=1; return
		fi
	done
	_n=$(wc -l <"$tmp/$1.1.jsonl")
	if ! cmp -s "$tmp/$1.1.jsonl" "$tmp/$1.4.jsonl"; then
		echo "FAIL $1: events differ between workers 1 and 4"
		diff "$tmp/$1.1.jsonl" "$tmp/$1.4.jsonl" | head -n 10
		fail=1
	elif [ "$_n" -eq 0 ] && ! quiet "$1"; then
		echo "FAIL $1: no event at all: nothing compared"; fail=1
	else
		echo "ok   $1: $_n events, identical with 4 workers"
	fi
}

for f in "$TOP"/tests/captures/*.pcap; do
	same "captures-$(basename "$f" .pcap)" "$f"
done
for s in synflood udpflood icmpflood portscan v6flood ddos benign mixed; do
	if [ "$s" = mixed ]; then
		"$MKPCAP" -o "$tmp/$s.pcap" -s mixed -n 300000 >/dev/null 2>&1
	else
		"$MKPCAP" -o "$tmp/$s.pcap" -s "$s" >/dev/null 2>&1
	fi || { echo "FAIL $s: mkpcap"; fail=1; continue; }
	same "$s" "$tmp/$s.pcap"
done

# Per-service bars are held by every shard for its sources: the same
# identity, with alerts crossed at a service's bar among the events.
for n in 1 4; do
	printf 'control_socket =\nworkers = %s\n[udp_flood port=53]\nthreshold = 300\n' "$n" \
		>"$tmp/w$n.conf"
	printf '[syn_flood port=8080]\nthreshold = 50\n[rate_flood proto=udp]\nthreshold = 900\n' \
		>>"$tmp/w$n.conf"
done
same svc-udp "$TOP/tests/captures/hping3-udp-flood.pcap"
same svc-syn "$TOP/tests/captures/hping3-syn-flood.pcap"
same svc-mixed "$tmp/mixed.pcap"
for c in svc-udp svc-syn; do
	grep -q '"service":true' "$tmp/$c.1.jsonl" && echo "ok   $c: alerts at a service's bar" ||
		{ echo "FAIL $c: no alert at a service's bar"; fail=1; }
done

# Every shard of the mixed capture counted packets.
_empty=$(grep -c 'report: worker\.[0-9]*\.packets=0 ' "$tmp/mixed.4.err")
_lines=$(grep -c 'report: worker\.[0-9]*\.packets=' "$tmp/mixed.4.err")
if [ "$_lines" -eq 4 ] && [ "$_empty" -eq 0 ]; then
	echo "ok   mixed: all 4 shards counted packets:" \
		"$(sed -n 's/.*report: worker\.\([0-9]*\)\.packets=\([0-9]*\).*/\1:\2/p' "$tmp/mixed.4.err" | tr '\n' ' ')"
else
	echo "FAIL mixed: $_lines worker lines, $_empty shards without packets"; fail=1
fi
exit $fail
