#!/bin/sh
# /metrics during replays of the recorded captures: promtool accepts every
# scrape (one taken while a large synthetic capture is still being read,
# and one per capture after its last packet, while http_linger keeps the
# replay serving), and the scraped values equal the report dosips prints
# at exit: frames, packets per protocol, skipped frames by reason, alerts
# by kind, sources, bans. The IP bytes per protocol equal the sum of the
# IP length fields tcpdump prints (an independent decoder).
set -u
BIN=$TOP/build/release/dosips
CAP=$TOP/tests/captures
. "$TOP/tests/common.sh"
command -v promtool >/dev/null || { echo "skipped: promtool missing (sh scripts/deps.sh)"; [ "${CI:-}" = true ] && exit 1; exit 77; }
command -v curl >/dev/null || { echo "skipped: curl missing"; exit 77; }
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
PORT=$((20000 + $$ % 20000))

# start FILE: a replay of FILE serving HTTP on PORT, lingering 30 s.
start() {
	printf 'http_listen = %s\nhttp_linger = 30s\n' "$PORT" >"$dir/conf"
	"$BIN" -c "$dir/conf" -w /dev/null -r "$1" --dry-run >"$dir/log" 2>&1 &
	pid=$!
	i=0
	until curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 200 ] || return 1
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
}

# stop: SIGTERM; the report is in $dir/log.
stop() {
	kill -TERM "$pid"; wait "$pid"; pid=""
}

# metric NAME{LABELS}: its value in $dir/scrape (empty if absent).
metric() {
	awk -v k="$1" '$1 == k { print $2 }' "$dir/scrape"
}

# sum NAME: the sum of a family's series.
sum() {
	awk -v k="$1" 'index($1, k "{") == 1 { s += $2 } END { print s + 0 }' "$dir/scrape"
}

# field KEY: KEY=N from the report lines.
field() {
	grep 'report:' "$dir/log" | grep -o " $1=[0-9]*" | head -n 1 | cut -d= -f2
}

same() { # WHAT GOT WANT
	[ "$2" = "$3" ] && ok "$f: $1 = $2" || bad "$f: $1: metrics say '$2', want '$3'"
}

# iplen FILTER: the sum of IP lengths tcpdump reads for FILTER.
iplen() {
	tcpdump -nr "$CAP/$f" -v "$1" 2>/dev/null | awk '
		/^[0-9].* IP \(/ { if (match($0, /length [0-9]+\)/)) s += substr($0, RSTART + 7, RLENGTH - 8) }
		/^[0-9].* IP6 \(/ { if (match($0, /payload length: [0-9]+/)) s += 40 + substr($0, RSTART + 16, RLENGTH - 16) }
		END { print s + 0 }'
}

# A scrape while packets are still being read.
"$TOP/build/release/tools/mkpcap" -o "$dir/big.pcap" -s mixed -n 3000000 >/dev/null
f=big.pcap
start "$dir/big.pcap" || { cat "$dir/log"; bad "dosips did not serve /metrics"; exit 1; }
curl -sf "http://127.0.0.1:$PORT/metrics" >"$dir/scrape"
if grep -q 'replay done' "$dir/log"; then
	note "the replay ended before the scrape: this scrape is after it"
fi
check "$f: promtool check metrics accepts a scrape taken mid-replay" \
	sh -c "promtool check metrics <'$dir/scrape' >'$dir/lint' 2>&1"
[ -s "$dir/lint" ] && sed 's/^/     /' "$dir/lint"
stop

for f in $(cd "$CAP" && ls *.pcap); do
	start "$CAP/$f" || { cat "$dir/log"; bad "$f: dosips did not serve /metrics"; continue; }
	i=0
	until grep -q 'replay done' "$dir/log" || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
	curl -sf "http://127.0.0.1:$PORT/metrics" >"$dir/scrape"
	stop
	check "$f: promtool check metrics accepts the scrape" \
		sh -c "promtool check metrics <'$dir/scrape' >'$dir/lint' 2>&1"
	[ -s "$dir/lint" ] && sed 's/^/     /' "$dir/lint"
	same frames "$(metric dosips_frames_total)" "$(field frames)"
	for p in tcp udp icmp icmpv6 other; do
		same "packets $p" "$(metric "dosips_packets_total{protocol=\"$p\"}")" "$(field $p)"
	done
	for r in $(grep -o 'dosips_frames_skipped_total{reason="[a-z_0-9]*"}' "$dir/scrape" |
		   sed 's/.*reason="\([^"]*\)".*/\1/'); do
		same "skipped $r" "$(metric "dosips_frames_skipped_total{reason=\"$r\"}")" \
			"$(field "skipped.$r")"
	done
	for k in syn_flood udp_flood icmp_flood port_scan rate_flood ddos; do
		same "alerts $k" "$(metric "dosips_alerts_total{kind=\"$k\"}")" "$(field "alerts.$k")"
	done
	same "sources tracked" "$(metric dosips_sources_tracked)" "$(field sources_tracked)"
	same "sources evicted" "$(metric dosips_sources_evicted_total)" "$(field sources_evicted)"
	same "bans made" "$(sum dosips_bans_total)" "$(field bans)"
	same "bans active" "$(sum dosips_bans_active)" "$(field bans_active)"
	same "whitelisted" "$(sum dosips_whitelisted_alerts_total)" "$(field whitelisted)"
	same "bans refused" "$(metric dosips_bans_refused_total)" "$(field refused_cap)"
	same "tcp bytes (tcpdump)" "$(metric 'dosips_ip_bytes_total{protocol="tcp"}')" \
		"$(iplen 'ip proto 6 or ip6 proto 6')"
	same "udp bytes (tcpdump)" "$(metric 'dosips_ip_bytes_total{protocol="udp"}')" \
		"$(iplen 'ip proto 17 or ip6 proto 17')"
done
# The Grafana dashboard: every expression parses (promtool, as recording
# rules, with Grafana's variables given values) and names only metric
# families a scrape has.
f=grafana-dosips.json
python3 - "$TOP/policy/$f" "$dir/rules.yml" "$dir/names" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
sub = lambda e: (e.replace("$__rate_interval", "5m").replace("$__range", "1h")
                  .replace("$instance", ".*"))
with open(sys.argv[2], "w") as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        f.write("  - record: dashboard:expr%d\n    expr: %s\n" % (i, json.dumps(sub(e))))
import re
names = sorted({re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs
                for n in re.findall(r"dosips_[a-z_]+", e)})
open(sys.argv[3], "w").write("\n".join(names) + "\n")
PY
check "$f: promtool check rules accepts every panel's expression" \
	sh -c "promtool check rules '$dir/rules.yml' >'$dir/lint' 2>&1"
grep -qi 'fail\|error' "$dir/lint" && sed 's/^/     /' "$dir/lint"
while read -r n; do
	grep -q "^# TYPE $n " "$dir/scrape" && ok "$f: $n is scraped" || bad "$f: $n is not a metric dosips serves"
done <"$dir/names"
echo "$T_PASS passed, $T_FAIL failed"
exit "$T_FAILED"
