#!/bin/sh
# bench.sh - replay throughput and memory of dosips against the bare libpcap
# read loop, on a synthetic capture (see tests/tools/mkpcap.c).
#
#   sh scripts/bench.sh            (after `make all tests`; `make bench` does both)
#
# Environment: BENCH_PACKETS (20000000), BENCH_RUNS (5), BENCH_SPOOF
# ("1000000 10000000": distinct-source counts for the memory bound).
# Captures are cached in build/bench/ and remade when mkpcap changes.
# The last lines weigh the results against the targets: dosips at 50 % or
# more of the read loop's packet rate, 5 Mpps or more, and the same peak
# RSS (within 10 %) for the smallest and the largest spoofed source count.
# Then feeds: the same replay with a feed of BENCH_FEED_ENTRIES (100000)
# loaded must keep its instructions per packet (callgrind, collected inside
# the packet callback only, on a capture of BENCH_CG_PACKETS (200000);
# within 1 %) and, noise permitting, its time per packet: feeds are matched
# by the kernel, and looked up only when an alert is published.
set -eu

cd "$(dirname "$0")/.."
BIN=build/release
OUT=build/bench
PACKETS=${BENCH_PACKETS:-20000000}
RUNS=${BENCH_RUNS:-5}
SPOOF=${BENCH_SPOOF:-"1000000 10000000"}
MKPCAP=$BIN/tools/mkpcap
PCAPREAD=$BIN/tools/pcapread
RSSPROBE=$BIN/tools/rssprobe
DOSIPS=$BIN/dosips

for f in "$MKPCAP" "$PCAPREAD" "$RSSPROBE" "$DOSIPS"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f missing: run make all tests" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
LOG=$OUT/last-run.log
: >"$LOG"

# capture NAME SCENARIO PACKETS [SOURCES]: makes $OUT/NAME.pcap unless a
# copy newer than mkpcap is there.
capture() {
	f=$OUT/$1.pcap
	if [ ! -s "$f" ] || [ -n "$(find "$MKPCAP" -newer "$f")" ]; then
		echo "bench: writing $f ($3 packets, scenario $2)"
		if [ $# -ge 4 ]; then
			"$MKPCAP" -o "$f.tmp" -s "$2" -n "$3" --sources "$4"
		else
			"$MKPCAP" -o "$f.tmp" -s "$2" -n "$3"
		fi
		mv "$f.tmp" "$f"
	fi
}

# probe CMD...: runs CMD under rssprobe, its output to the log; prints
# "elapsed_ns maxrss_kb" and fails if CMD did. Split with t=${r% *} and
# m=${r#* }.
probe() {
	tmp=$OUT/probe.err
	if ! "$RSSPROBE" "$@" >>"$LOG" 2>"$tmp"; then
		cat "$tmp" >>"$LOG"
		echo "bench: failed: $* (see $LOG)" >&2
		exit 1
	fi
	cat "$tmp" >>"$LOG"
	sed -n 's/^rssprobe: elapsed_ns=\([0-9]*\) maxrss_kb=\([0-9]*\) .*/\1 \2/p' "$tmp" | tail -n 1
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

max() {
	sort -n | tail -n 1
}

MIXED=mixed-$PACKETS
capture "$MIXED" mixed "$PACKETS"
CAP=$OUT/$MIXED.pcap
N=$("$PCAPREAD" "$CAP" | sed -n 's/^packets=\([0-9]*\) .*/\1/p')
echo "bench: $CAP: $N packets, $(du -m "$CAP" | cut -f1) MB; $RUNS runs each, alternating"

: >"$OUT/t.read"; : >"$OUT/t.dosips"; : >"$OUT/m.read"; : >"$OUT/m.dosips"
i=0
while [ "$i" -lt "$RUNS" ]; do
	r=$(probe "$PCAPREAD" "$CAP")
	echo "${r% *}" >>"$OUT/t.read"; echo "${r#* }" >>"$OUT/m.read"
	r=$(probe "$DOSIPS" -r "$CAP" --dry-run --events /dev/null)
	echo "${r% *}" >>"$OUT/t.dosips"; echo "${r#* }" >>"$OUT/m.dosips"
	i=$((i + 1))
done

TR=$(median <"$OUT/t.read")
TD=$(median <"$OUT/t.dosips")
awk -v n="$N" -v tr="$TR" -v td="$TD" -v mr="$(max <"$OUT/m.read")" \
    -v md="$(max <"$OUT/m.dosips")" 'BEGIN {
	printf "%-10s %10s %10s %12s %12s\n", "", "median s", "Mpps", "ns/packet", "peak RSS MB"
	printf "%-10s %10.3f %10.2f %12.1f %12.1f\n", "pcapread", tr / 1e9, n * 1e3 / tr, tr / n, mr / 1024
	printf "%-10s %10.3f %10.2f %12.1f %12.1f\n", "dosips", td / 1e9, n * 1e3 / td, td / n, md / 1024
	printf "dosips/pcapread: %.2fx the time; dosips adds %.1f ns/packet\n", td / tr, (td - tr) / n
}'
grep "report: alerts" "$LOG" | tail -n 1 | sed 's/^/bench: last replay: /'

: >"$OUT/m.spoof"
for s in $SPOOF; do
	capture "spoof-$s" spoof "$s" "$s"
	r=$(probe "$DOSIPS" -r "$OUT/spoof-$s.pcap" --dry-run --events /dev/null)
	echo "${r#* }" >>"$OUT/m.spoof"
	awk -v s="$s" -v t="${r% *}" -v m="${r#* }" 'BEGIN {
		printf "spoof %9d distinct sources: peak RSS %.1f MB, %.1f ns/packet\n", s, m / 1024, t / s
	}'
done

awk -v n="$N" -v tr="$TR" -v td="$TD" -v m0="$(head -n 1 "$OUT/m.spoof")" \
    -v m1="$(tail -n 1 "$OUT/m.spoof")" 'BEGIN {
	rate = tr / td; mpps = n * 1e3 / td
	printf "bench: dosips at %.1f %% of the pcapread packet rate (target 50): %s\n", 100 * rate,
	       (rate >= 0.5 ? "met" : "MISSED")
	printf "bench: dosips at %.2f Mpps (target 5): %s\n", mpps, (mpps >= 5 ? "met" : "MISSED")
	if (m0 > 0)
		printf "bench: peak RSS %.1f -> %.1f MB across the spoofed source counts (flat): %s\n",
		       m0 / 1024, m1 / 1024, (m1 <= 1.1 * m0 ? "met" : "MISSED")
}'

# ---- feeds: loaded, they must cost the packet path nothing
FEED_N=${BENCH_FEED_ENTRIES:-100000}
CG_N=${BENCH_CG_PACKETS:-200000}
FEED=$OUT/feed-$FEED_N.netset
if [ ! -s "$FEED" ]; then
	awk -v n="$FEED_N" 'BEGIN { srand(1); print "# bench feed, FireHOL netset format"
		for (i = 0; i < n; i++) {
			a = int(11 + rand() * 88); b = int(rand() * 256); c = int(rand() * 256)
			if (i % 4 == 0) printf "%d.%d.%d.0/24\n", a, b, c
			else printf "%d.%d.%d.%d\n", a, b, c, int(rand() * 256) } }' >"$FEED"
fi
printf 'state_dir = %s/state\n[feed bench]\nfile = %s\nformat = netset\n' "$OUT" "$FEED" \
	>"$OUT/feeds.conf"
# Each run's fixed cost (start-up, the feed's parse) is measured on a
# capture of 1000 packets and taken off, leaving the per-packet time.
capture tiny mixed 1000
: >"$OUT/t.nofeed"; : >"$OUT/t.feed"; : >"$OUT/t0.nofeed"; : >"$OUT/t0.feed"
i=0
while [ "$i" -lt "$RUNS" ]; do
	for c in nofeed feed; do
		conf=/dev/null
		[ $c = feed ] && conf=$OUT/feeds.conf
		r=$(probe "$DOSIPS" -r "$CAP" --dry-run -c "$conf" -w /dev/null --events /dev/null)
		echo "${r% *}" >>"$OUT/t.$c"
		r=$(probe "$DOSIPS" -r "$OUT/tiny.pcap" --dry-run -c "$conf" -w /dev/null --events /dev/null)
		echo "${r% *}" >>"$OUT/t0.$c"
	done
	i=$((i + 1))
done
grep -q "feed bench: $FEED_N entries" "$LOG" || { echo "bench: the feed was not loaded (see $LOG)" >&2; exit 1; }
T0=$(( $(median <"$OUT/t.nofeed") - $(median <"$OUT/t0.nofeed") ))
T1=$(( $(median <"$OUT/t.feed") - $(median <"$OUT/t0.feed") ))
awk -v n="$N" -v t0="$T0" -v t1="$T1" -v f="$FEED_N" -v tr="$TR" 'BEGIN {
	printf "feeds: per-packet replay time without %.1f ns, with %d feed entries %.1f ns; ratio to pcapread %.1f %% vs %.1f %% (fixed cost taken off)\n",
	       t0 / n, f, t1 / n, 100 * tr / t0, 100 * tr / t1 }'
if command -v valgrind >/dev/null 2>&1; then
	capture "mixed-$CG_N" mixed "$CG_N"
	for c in /dev/null "$OUT/feeds.conf"; do
		valgrind --tool=callgrind --toggle-collect=on_packets --callgrind-out-file="$OUT/cg.out" \
			"$DOSIPS" -r "$OUT/mixed-$CG_N.pcap" --dry-run -c "$c" -w /dev/null \
			--events /dev/null >>"$LOG" 2>&1
		sed -n 's/^summary: \([0-9]*\).*/\1/p' "$OUT/cg.out"
	done >"$OUT/cg.ir"
	awk -v n="$CG_N" 'NR == 1 { a = $1 } NR == 2 { b = $1 } END {
		printf "feeds: callgrind instructions/packet in the packet callback: %.1f without, %.1f with feeds: %s\n",
		       a / n, b / n, (b <= a * 1.01 ? "met" : "MISSED") }' "$OUT/cg.ir"
else
	echo "feeds: valgrind not installed: no instruction counts"
fi
awk -v t0="$T0" -v t1="$T1" 'BEGIN {
	printf "bench: per-packet time with feeds %+.1f %% against without (wall clock: noisy on a shared machine; the instruction count above is the figure)\n",
	       100 * (t1 - t0) / t0 }'
