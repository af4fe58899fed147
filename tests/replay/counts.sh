#!/bin/sh
# The final report's per-protocol counts for real captures equal what
# tcpdump, an independent decoder, counts with its own filters.
set -u
. "$TOP/tests/common.sh"
CORPUS=$(corpus_dir) || exit $?
BIN=$TOP/build/release/dosips
command -v tcpdump >/dev/null || { echo "tcpdump missing"; exit 1; }
fail=0

# field REPORT KEY: the value of KEY=N in dosips's report lines.
field() { grep -o " $2=[0-9]*" "$1" | head -n 1 | cut -d= -f2; }

check() { # FILE KEY FILTER
	want=$(tcpdump -nr "$CORPUS/$1" "$3" 2>/dev/null | wc -l)
	got=$(field "$out" "$2")
	if [ "$got" != "$want" ]; then
		echo "FAIL $1: $2=$got, tcpdump '$3' counts $want"; fail=1
	else
		echo "ok   $1: $2=$got"
	fi
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for f in afs.pcap mptcp-v0.pcap resp_1_benchmark.pcap dhcp-rfc4388.pcap \
	 babel_rfc6126bis.pcap bgp-4byte-asn.pcap ssh.pcap; do
	if ! "$BIN" -c /dev/null -w /dev/null -r "$CORPUS/$f" --dry-run >"$out" 2>&1; then
		echo "FAIL $f: dosips exited non-zero"; cat "$out"; fail=1; continue
	fi
	check "$f" tcp 'ip proto 6 or ip6 proto 6'
	check "$f" udp 'ip proto 17 or ip6 proto 17'
	check "$f" icmp 'ip proto 1'
	check "$f" ipv4 'ip'
	check "$f" ipv6 'ip6'
done
exit $fail
