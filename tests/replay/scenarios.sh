#!/bin/sh
# Synthetic captures with known attacks (tests/tools/mkpcap.c documents
# each) replayed with --dry-run: the JSON events must equal the expected
# decisions in tests/replay/expected/ line for line — which sources, which
# kind, at which packet (its timestamp), and nothing for benign traffic.
set -u
BIN=$TOP/build/release/dosips
MKPCAP=$TOP/build/release/tools/mkpcap
EXP=$TOP/tests/replay/expected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# replay NAME SCENARIO [dosips options...]
replay() {
	name=$1 scen=$2; shift 2
	"$MKPCAP" -o "$tmp/$scen.pcap" -s "$scen" >/dev/null 2>&1 || { echo "FAIL $name: mkpcap"; fail=1; return; }
	if ! "$BIN" -r "$tmp/$scen.pcap" --dry-run --events - "$@" >"$tmp/$name.jsonl" 2>"$tmp/$name.err"; then
		echo "FAIL $name: dosips exited non-zero"; cat "$tmp/$name.err"; fail=1; return
	fi
	if diff -u "$EXP/$name.jsonl" "$tmp/$name.jsonl"; then
		echo "ok   $name: $(wc -l <"$tmp/$name.jsonl") events as expected"
	else
		echo "FAIL $name"; fail=1
	fi
}

printf '# the SYN flooder\n198.19.0.0/24\n' >"$tmp/wl"
printf '[syn_flood]\nthreshold = 50\n' >"$tmp/t50.conf"
for s in synflood udpflood icmpflood portscan v6flood ddos benign; do
	replay "$s" "$s" -c /dev/null -w /dev/null
done
replay synflood-whitelisted synflood -c /dev/null -w "$tmp/wl"
replay synflood-threshold50 synflood -c "$tmp/t50.conf" -w /dev/null
exit $fail
