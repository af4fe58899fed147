#!/bin/sh
# e2e_abuseipdb.sh - alert enrichment against a LOCAL STAND-IN for
# AbuseIPDB's public API (tests/lab/abuseipdb_standin.py, answering the
# check endpoint in the documented JSON shape), in a network namespace of
# its own: nothing leaves the machine. A replayed capture (made here) has
# UDP floods from three public addresses (the capture file is all they
# ever are), a private one and a benchmarking one. With a daily limit of
# 2: two checks, the third source stopped by the quota, the private and
# benchmarking sources never queried, enrich events with the stand-in's
# score, country and categories. A second run from the same state: the
# cached sources make no request (enrich "cached":true) and the day's
# count carries over. The stand-in's blacklist endpoint serves a json
# feed (the key sent from headers_file): fetched by a first, live run, its
# last good copy lists 5.6.7.8 in the replays. The reputation policy
# (ban_factor 3) lengthens first bans of a source listed by a feed or
# scored 100 by the cache, and only those.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB_LIB=1 . "$TOP/scripts/lab.sh"
BIN=${DOSIPS_BUILD:-$TOP/build/release}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespace)"; exit 77; }
command -v python3 >/dev/null || { echo "skipped: python3 is needed"; exit 77; }
[ -x "$BIN/dosips" ] || { echo "FAIL no $BIN/dosips: build first (make)"; exit 1; }
. "$TOP/tests/common.sh"

lab_init
NS=$LAB_PFX-abuse
LAB_NAMESPACES=$NS
lab_trap
LAB_CREATED=1
lab_ns_add "$NS" || { echo "FAIL cannot create namespace $NS"; exit 1; }
D=$LAB_DIR
KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567
echo "$KEY" >"$D/key"

# The capture: 210 UDP datagrams 1 ms apart from each source, a second
# apart (udp_flood: 200 in 5 s), Ethernet, IPv4.
python3 - "$D/floods.pcap" <<'PY'
import struct, sys
srcs = ["1.2.3.4", "5.6.7.8", "9.9.9.9", "10.1.2.3", "198.18.0.7"]
def csum(b):
    s = sum(struct.unpack("!10H", b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for k, src in enumerate(srcs):
        for i in range(210):
            us = 1700000000 * 10**6 + k * 10**6 + i * 1000
            udp = struct.pack("!HHHH", 40000 + i, 9999, 16, 0) + b"dosips!!"
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             bytes(map(int, src.split("."))), bytes([198, 18, 255, 1]))
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            fr = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp
            f.write(struct.pack("<IIII", us // 10**6, us % 10**6, len(fr), len(fr)) + fr)
PY
printf 'Key: %s\nAccept: application/json\n' "$KEY" >"$D/abuse.headers"

lab_bg "$NS" python3 "$TOP/tests/lab/abuseipdb_standin.py" 127.0.0.1 8099 "$KEY" "$D/requests.log"
lab_wait 5 lab_exec "$NS" curl -s -o /dev/null http://127.0.0.1:8099/ ||
	{ echo "FAIL the stand-in does not answer"; exit 1; }
: >"$D/requests.log"
ok "local AbuseIPDB stand-in (not the public service) on 127.0.0.1:8099 in $NS"

write_conf() { # LIMIT
	cat >"$D/dosips.conf" <<-C
	state_dir = $D/state
	[reputation]
	abuseipdb_key_file = $D/key
	abuseipdb_url = http://127.0.0.1:8099/api/v2
	abuseipdb_daily_limit = $1
	ban_factor = 3
	[feed abuseipdb_blacklist]
	url = http://127.0.0.1:8099/api/v2/blacklist?confidenceMinimum=90
	headers_file = $D/abuse.headers
	format = json
	C
}
run() { # LIMIT RUN
	write_conf "$1"
	lab_exec "$NS" "$BIN/dosips" -r "$D/floods.pcap" --dry-run -c "$D/dosips.conf" -w /dev/null \
		--ban 60 --events "$D/events$2.json" >"$D/dosips$2.log" 2>&1 ||
		bad "run $2: dosips exited non-zero: $(tail -n 3 "$D/dosips$2.log")"
}
ev() { grep "\"event\":\"$1\"" "$D/events$3.json" | grep "\"src\":\"$2\""; }

# Run 0, live on lo (dry run) for a moment: the blacklist feed is fetched.
run_live() {
	lab_bg "$NS" "$BIN/dosips" -i lo --dry-run -c "$D/dosips.conf" -w /dev/null \
		>"$D/dosips0.log" 2>&1
	lab_wait 10 grep -q "feed abuseipdb_blacklist: 1 entries from http" "$D/dosips0.log"
	r=$?
	kill "$LAB_LAST_PID"
	wait "$LAB_LAST_PID" 2>/dev/null
	return $r
}
write_conf 2
run_live && grep -qx blacklist "$D/requests.log" && [ -s "$D/state/feeds/abuseipdb_blacklist" ] &&
	ok "the blacklist endpoint, as a json feed with the key from headers_file: $(grep -o '1 entries from http[^ ]*' "$D/dosips0.log"), kept" ||
	bad "blacklist feed: $(grep abuseipdb_blacklist "$D/dosips0.log" | tail -n 2)"
: >"$D/requests.log"

run 2 1
[ "$(grep -v blacklist "$D/requests.log" | sort | tr '\n' ' ')" = "check 1.2.3.4 check 5.6.7.8 " ] &&
	ok "run 1: the stand-in got exactly: $(tr '\n' ' ' <"$D/requests.log")" ||
	bad "run 1: requests: $(tr '\n' ' ' <"$D/requests.log")"
for s in 1.2.3.4 5.6.7.8; do
	e=$(ev enrich $s 1)
	echo "$e" | grep -q '"abuse_score":100,"country":"NL","categories":\[4,14,15\],"reports":12,"cached":false' &&
		ok "run 1: enrich $s: $(echo "$e" | sed 's/.*"source"/"source"/')" || bad "run 1: enrich $s: '$e'"
done
[ -z "$(ev enrich 9.9.9.9 1)" ] && grep -q 'daily quota of 2 requests reached' "$D/dosips1.log" &&
	ok "run 1: 9.9.9.9 not checked: daily quota of 2 reached (logged)" || bad "run 1: quota not respected"
grep -q 'abuseipdb.requests=2 .*abuseipdb.skipped_reserved=2 abuseipdb.skipped_quota=1 .*abuseipdb.used_today=2 abuseipdb.limit=2' \
	"$D/dosips1.log" && ok "run 1 report: $(grep -o 'abuseipdb.requests.*' "$D/dosips1.log")" ||
	bad "run 1 report: $(grep 'abuseipdb\.' "$D/dosips1.log")"
grep -q "10.1.2.3\|198.18.0.7" "$D/requests.log" && bad "a private or reserved address was sent" ||
	ok "10.1.2.3 (private) and 198.18.0.7 (benchmarking) alerted and were never sent"
[ -n "$(ev alert 10.1.2.3 1)" ] && [ -n "$(ev alert 198.18.0.7 1)" ] ||
	bad "the private and reserved floods did not alert"
ev alert 5.6.7.8 1 | grep -q '"feeds":\["abuseipdb_blacklist"\]' && ev alert 1.2.3.4 1 | grep -q '"feeds":\[\]' &&
	ok "alerts name the feeds listing their source: 5.6.7.8 [abuseipdb_blacklist], 1.2.3.4 []" ||
	bad "feeds on alerts: $(ev alert 5.6.7.8 1)"
ev ban 5.6.7.8 1 | grep -q '"duration_s":180' && ev ban 1.2.3.4 1 | grep -q '"duration_s":60' &&
	ok "run 1: listed 5.6.7.8 banned 180 s (ban_factor 3), unknown 1.2.3.4 60 s" ||
	bad "run 1 ban lengths: $(ev ban 5.6.7.8 1) / $(ev ban 1.2.3.4 1)"

n0=$(wc -l <"$D/requests.log")
run 10 2
new=$(tail -n +"$((n0 + 1))" "$D/requests.log" | grep -v blacklist | tr '\n' ' ')
[ "$new" = "check 9.9.9.9 " ] && ok "run 2: cached 1.2.3.4 and 5.6.7.8 made no request; only: $new" ||
	bad "run 2: requests: '$new'"
ev enrich 1.2.3.4 2 | grep -q '"cached":true' && ev enrich 5.6.7.8 2 | grep -q '"cached":true' &&
	ok "run 2: their enrich events come from the cache (\"cached\":true)" ||
	bad "run 2: no cached enrich events"
grep -q '^quota [0-9]* 3$' "$D/state/abuseipdb.cache" &&
	ok "the day's count carried over the restart: 3 requests of 10" ||
	bad "quota count: $(head -n 1 "$D/state/abuseipdb.cache")"
ev ban 1.2.3.4 2 | grep -q '"duration_s":180' && ev ban 10.1.2.3 2 | grep -q '"duration_s":60' &&
	ok "run 2: 1.2.3.4, cached score 100, banned 180 s; 10.1.2.3 (no score) 60 s" ||
	bad "run 2 ban lengths: $(ev ban 1.2.3.4 2)"
grep -q '^denied' "$D/requests.log" && bad "the stand-in denied a request: wrong or missing Key" ||
	ok "every request carried the key the stand-in expects"
[ "$T_FAILED" -eq 0 ] && echo "PASS abuseipdb" || { echo "FAIL abuseipdb"; exit 1; }
