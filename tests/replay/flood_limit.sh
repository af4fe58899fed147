#!/bin/sh
# flood_limit.sh - a flood of many sources must not flood the log and the
# events file: 300 sources each cross the SYN threshold (mkpcap spoof),
# whitelisted or not. Alert, whitelisted and hooks-skipped lines are held
# to log_limit (50) per 10 s window, and what was held back is summed in
# "suppressed" lines whose counts, added to the lines written, give exactly
# what an unlimited run (log_interval = 0) writes. Bans are never held
# back: the limited run has every ban of the unlimited one.
set -u
BIN=$TOP/build/release/dosips
MKPCAP=$TOP/build/release/tools/mkpcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$TOP/tests/common.sh"

"$MKPCAP" -o "$tmp/spoof.pcap" -s spoof -n 30000 --sources 300 >/dev/null 2>&1 ||
	{ echo "FAIL mkpcap"; exit 1; }
printf '198.18.0.0/15\n2001:db8::/32\n' > "$tmp/all.wl"
: > "$tmp/none.wl"
# conf [LINES]: the SYN threshold at 50 (every spoofed source crosses it)
conf() {
	printf '%s\n' "$@" "[syn_flood]" "threshold = 50" > "$tmp/limited.conf"
	printf '%s\n' "log_interval = 0" "$@" "[syn_flood]" "threshold = 50" > "$tmp/unlimited.conf"
}
conf

# run NAME CONF WHITELIST [options]: events to NAME.jsonl, log to NAME.log
run() {
	n=$1 c=$2 w=$3; shift 3
	"$BIN" -r "$tmp/spoof.pcap" --dry-run --events - -c "$tmp/$c.conf" -w "$tmp/$w.wl" "$@" \
		> "$tmp/$n.jsonl" 2> "$tmp/$n.log" || bad "$n: dosips exited non-zero"
}
lines() { grep -c "\"event\":\"$2\"" "$tmp/$1.jsonl"; }
held() { # NAME TYPE: sum of the suppressed counts of TYPE in the events file
	grep "\"event\":\"suppressed\",\"of\":\"$2\"" "$tmp/$1.jsonl" |
		sed 's/.*"count":\([0-9]*\).*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}
logheld() { # NAME WORD: sum of the log's "WORD: N more" summaries
	sed -n "s/^dosips: \(warning: \)\{0,1\}$2: \([0-9]*\) more .*/\2/p" "$tmp/$1.log" |
		awk '{ s += $1 } END { print s + 0 }'
}

run free unlimited all
run lim limited all
a0=$(lines free alert) w0=$(lines free whitelisted)
a=$(lines lim alert) w=$(lines lim whitelisted)
echo "     whitelisted flood: unlimited $a0 alerts, $w0 whitelisted; limited $a and $w"
check "the unlimited run sees all 300 sources" [ "$w0" -eq 300 ]
check "alert lines held to log_limit" [ "$a" -le 50 ]
check "whitelisted lines held to log_limit" [ "$w" -le 50 ]
check "alerts written + suppressed = unlimited ($a + $(held lim alert) = $a0)" \
	[ $((a + $(held lim alert))) -eq "$a0" ]
check "whitelisted written + suppressed = unlimited" \
	[ $((w + $(held lim whitelisted))) -eq "$w0" ]
la=$(grep -c '^dosips: alert ' "$tmp/lim.log")
check "the log holds alerts to log_limit too ($la lines)" [ "$la" -le 50 ]
check "and sums the rest" [ $((la + $(logheld lim alert))) -eq "$a0" ]

conf "on_ban = /bin/sleep 1" "hook_max = 1"
run bfree unlimited none
run blim limited none
b0=$(lines bfree ban) b=$(lines blim ban)
check "every ban is in the events file ($b of $b0)" [ "$b0" -ge 300 -a "$b" -eq "$b0" ]
check "and every unban likewise" [ "$(lines blim unban)" -eq "$(lines bfree unban)" ]
s0=$(grep -c 'not run for' "$tmp/bfree.log")
s1=$(grep -c 'not run for' "$tmp/blim.log")
check "skipped-hook warnings held to log_limit ($s1 of $s0)" [ "$s0" -ge 299 -a "$s1" -le 50 ]
check "and summed" [ $((s1 + $(logheld blim hooks))) -eq "$s0" ]
exit $T_FAILED
