#!/bin/sh
# e2e_feeds.sh - blocklist feeds from a real HTTPS server (python3's
# http.server wrapped in TLS, with a CA made here that dosips is told to
# trust) in the client's namespace: a FireHOL netset of 100,000 entries and
# a Spamhaus DROP file. Checks: each loads into the kernel in under 1 s of
# CPU (measured by dosips, printed); the attacker, listed inside a CIDR, is
# dropped by the kernel (v4 by the netset, v6 by DROP) while the client,
# whitelisted inside the same CIDR, still gets in; a changed feed is swapped
# in with no packet of a continuous probe getting through; truncated,
# garbage and shrunken feeds are refused and the old list kept; with the
# server stopped and the table gone, a restart enforces the last good copy.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null && command -v openssl >/dev/null ||
	{ echo "skipped: python3 and openssl are needed"; exit 77; }
t_init feeds
# nft monitor is a listener of the nftables group: the kernel would build
# one notification per element for it. Production has none; stop it.
kill "$LAB_LAST_PID" 2>/dev/null
LOAD_BOUND_MS=${LOAD_BOUND_MS:-3000}
WWW=$LAB_DIR/www
mkdir -p "$WWW"
SRV=$LAB_CLIENT4
PORT=8443

# ---- a CA and a server certificate for 198.18.0.2
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=dosips lab CA" \
	-keyout "$LAB_DIR/ca.key" -out "$LAB_DIR/ca.pem" 2>/dev/null || fail "openssl CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=$SRV" -keyout "$LAB_DIR/srv.key" \
	-out "$LAB_DIR/srv.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:%s\n' "$SRV" >"$LAB_DIR/san.ext" &&
	openssl x509 -req -in "$LAB_DIR/srv.csr" -CA "$LAB_DIR/ca.pem" -CAkey "$LAB_DIR/ca.key" \
		-CAcreateserial -days 1 -extfile "$LAB_DIR/san.ext" -out "$LAB_DIR/srv.pem" \
		2>/dev/null || fail "openssl server certificate"

# ---- the feeds: 99,999 generated entries (11.0.0.0-99.255.255.255,
# addresses, /24s and /28s) plus 198.18.0.0/28, which holds the attacker
# (.3), the client (.2, whitelisted) and the victim (.1, its own address).
gen_netset() { # SEED EXTRA_LINE
	python3 - "$1" "$2" <<-'EOF'
	import random, sys
	random.seed(int(sys.argv[1]))
	print("# FireHOL-style netset generated for the dosips lab\n#")
	seen = set()
	while len(seen) < 99999:
	    a = random.randint(0x0b000000, 0x63ffffff)
	    l = random.choice((32, 32, 32, 24, 28))
	    seen.add((a & (0xffffffff << (32 - l)) & 0xffffffff, l))
	for a, l in sorted(seen):
	    s = "%d.%d.%d.%d" % (a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255)
	    print(s if l == 32 else "%s/%d" % (s, l))
	print(sys.argv[2])
	EOF
}
gen_netset 1 198.18.0.0/28 >"$WWW/firehol.netset"
cat >"$WWW/drop.txt" <<EOF
; Spamhaus DROP List 2026/12/02 - (c) 2026 The Spamhaus Project SLU
; https://www.spamhaus.org/drop/drop.txt
203.0.113.0/24 ; SBL000001
2001:db8:0:2::/64 ; SBL000002
EOF

cat >"$LAB_DIR/https.py" <<EOF
import http.server, ssl, os
os.chdir("$WWW")
s = http.server.ThreadingHTTPServer(("$SRV", $PORT), http.server.SimpleHTTPRequestHandler)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain("$LAB_DIR/srv.pem", "$LAB_DIR/srv.key")
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
EOF
server_start() {
	lab_bg "$LAB_CLIENT" python3 "$LAB_DIR/https.py" >>"$LAB_DIR/https.log" 2>&1
	SRV_PID=$LAB_LAST_PID
	lab_wait 5 lab_exec "$LAB_VICTIM" curl -sf --cacert "$LAB_DIR/ca.pem" \
		-o /dev/null "https://$SRV:$PORT/drop.txt" || fail "the HTTPS server does not answer"
}
server_start
ok "HTTPS server (python3 http.server + TLS, lab CA) on $SRV:$PORT"

T_WHITELIST=$LAB_CLIENT4
# The probe of the swap must not be banned by detection (a ban would hide
# a window of the feed chain): SYN flood detection is off here.
T_CONF="state_dir = $LAB_DIR/state
http_listen = 9211
syn_flood.enabled = no
[feed firehol_level1]
url = https://$SRV:$PORT/firehol.netset
format = netset
refresh = 3s
cainfo = $LAB_DIR/ca.pem
[feed spamhaus_drop]
url = https://$SRV:$PORT/drop.txt
format = drop
refresh = 1h
cainfo = $LAB_DIR/ca.pem"

# loads NAME: how many times feed NAME was loaded (from any source).
loads() { grep -c "feed $1: .* entries from" "$LAB_DIR/dosips.log"; }
refused() { grep -c "feed $1: .*refused" "$LAB_DIR/dosips.log"; }
elements() { # SET: elements in one of our feed sets
	lab_exec "$LAB_VICTIM" nft -j list set inet dosips "$1" |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["nftables"][1]["set"]; print(len(d.get("elem", [])))'
}
set_has() { # SET ELEMENT-TEXT
	lab_exec "$LAB_VICTIM" nft list set inet dosips "$1" | tr -d ' \t\n' | tr '{' ',' | tr '}' ',' |
		grep -q ",$2,"
}

dosips_start
lab_wait 20 sh -c "[ \$(grep -c 'feed firehol_level1: .* entries from https' '$LAB_DIR/dosips.log') -ge 1 ] &&
	[ \$(grep -c 'feed spamhaus_drop: .* entries from https' '$LAB_DIR/dosips.log') -ge 1 ]" ||
	fail "the feeds were not loaded"
for f in firehol_level1 spamhaus_drop; do
	line=$(grep "feed $f: .* entries from https" "$LAB_DIR/dosips.log" | head -n 1)
	wall=$(printf '%s\n' "$line" | sed -n 's/.*into the kernel in \([0-9]*\) ms.*/\1/p')
	cpu=$(printf '%s\n' "$line" | sed -n 's/.*ms (\([0-9]*\) ms of CPU).*/\1/p')
	n=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) entries from.*/\1/p')
	# Target: under 1 s (met at 250-600 ms of CPU on a quiet machine);
	# the test's bound is generous, a loaded machine stretches CPU time.
	[ -n "$cpu" ] && [ "$cpu" -lt "$LOAD_BOUND_MS" ] &&
		ok "$f: $n entries loaded into the kernel in $wall ms ($cpu ms of CPU; target 1000: $(
			[ "$cpu" -lt 1000 ] && echo met || echo "missed, machine load $(cut -d' ' -f1 /proc/loadavg)"
			); bound $LOAD_BOUND_MS)" ||
		bad "$f: load took $wall ms, $cpu ms of CPU: $line"
done
# The feeds in the metrics: each one's entries, as the load logged them.
scrape=$(lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9211/metrics)
for f in firehol_level1 spamhaus_drop; do
	want=$(grep "feed $f: .* entries from https" "$LAB_DIR/dosips.log" | head -n 1 |
		sed -n 's/.*: \([0-9]*\) entries from.*/\1/p')
	got=$(printf '%s\n' "$scrape" | sed -n "s/^dosips_feed_entries{feed=\"$f\"} //p")
	[ -n "$want" ] && [ "$got" = "$want" ] && ok "metrics: dosips_feed_entries{feed=\"$f\"} $got" ||
		bad "metrics: dosips_feed_entries of $f is '$got', the load logged '$want'"
done
printf '%s\n' "$scrape" | grep -q '^dosips_feed_last_refresh_timestamp_seconds{feed="firehol_level1"} [1-9]' &&
	ok "metrics: the last refresh of firehol_level1 is stamped" || bad "metrics: no refresh time"
if command -v promtool >/dev/null; then
	printf '%s\n' "$scrape" | promtool check metrics >/dev/null 2>&1 &&
		ok "promtool accepts the scrape with feed families" ||
		bad "promtool: $(printf '%s\n' "$scrape" | promtool check metrics 2>&1 | head -n 3)"
fi
[ "$(elements feed_firehol_level1_4)" -gt 99000 ] &&
	ok "feed_firehol_level1_4 holds $(elements feed_firehol_level1_4) elements (nft -j)" ||
	bad "feed_firehol_level1_4 holds $(elements feed_firehol_level1_4) elements"
grep -q "feed firehol_level1: entry 198.18.0.0-198.18.0.15 covers whitelisted or protected" \
	"$LAB_DIR/dosips.log" && ok "198.18.0.0/28 reported as covering protected addresses" ||
	bad "no report of 198.18.0.0/28 covering the client or the victim"
set_has feed_firehol_level1_4 "198.18.0.3-198.18.0.15" &&
	ok "the kernel's set holds 198.18.0.3-198.18.0.15: split around .1 and .2" ||
	bad "198.18.0.0/28 not split around the victim and the client"

lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" && bad "listed attacker $LAB_ATTACKER4 got in" ||
	ok "listed attacker $LAB_ATTACKER4 (inside 198.18.0.0/28) is dropped"
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM6" && bad "listed attacker $LAB_ATTACKER6 got in" ||
	ok "listed attacker $LAB_ATTACKER6 (DROP 2001:db8:0:2::/64) is dropped"
[ "$(drop_counter feed_firehol_level1_4)" -gt 0 ] && [ "$(drop_counter feed_spamhaus_drop_6)" -gt 0 ] &&
	ok "the feeds' drop rules counted the attacker's packets" || bad "feed drop counters are 0"
client_ok
lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "whitelisted-in-cidr-$$" &&
	ok "whitelisted client $LAB_CLIENT4 inside the listed CIDR still gets in" ||
	bad "the whitelisted client inside the listed CIDR is blocked"

# ---- a changed feed: swapped with no window. The attacker stays listed
# in both versions and probes throughout; nothing of it may pass.
n0=$(loads firehol_level1)
gen_netset 2 198.18.0.3 >"$WWW/firehol.netset.new"
observer_start "$LAB_ATTACKER4"
lab_bg "$LAB_ATTACKER" timeout 15 hping3 -q -S -p "$LAB_TCP_PORT" -i u500 -c 30000 "$LAB_VICTIM4" \
	>/dev/null 2>&1
PROBE=$LAB_LAST_PID
sleep 1
touch -d '+5 seconds' "$WWW/firehol.netset.new"
mv "$WWW/firehol.netset.new" "$WWW/firehol.netset"
lab_wait 12 sh -c "[ \$(grep -c 'feed firehol_level1: .* entries from' '$LAB_DIR/dosips.log') -gt $n0 ]" ||
	bad "the changed feed was not loaded"
sleep 1
kill "$PROBE" 2>/dev/null
observer_stop
set_has feed_firehol_level1_4 "198.18.0.3" && ! set_has feed_firehol_level1_4 "198.18.0.3-198.18.0.15" &&
	ok "refresh swapped in the new list (198.18.0.3 alone now)" || bad "the new list is not in force"
[ "${A_PASSED:-1}" -eq 0 ] &&
	ok "no probe packet passed during the swap ($(pcap_times "$LAB_DIR/tap.pcap" | wc -l) sent at the tap)" ||
	bad "$A_PASSED probe packets passed during the swap"
grep -q "If-Modified-Since\|304" "$LAB_DIR/https.log" &&
	ok "conditional requests: the server answered 304 Not Modified" ||
	note "(no 304 seen in the server log)"

# ---- someone flushes the ruleset: the feeds come back with the table
# Within 5 s: the sets, the chain and the elements go back in batches of
# their own. Timed by the attacker's packets, not by listing the set: a
# listing of 100,000 elements (even `nft get element`) takes over a second,
# and polling with it once made a restore of under one look late. The
# attacker gets in until the feed's drop is back; the first attempt that
# does not get in dates the restore (within one attempt, a few ms). Then
# the set must hold the feed's entry.
kept_out() { # the attempt's start in t1; true when it does not get in
	t1=$(date +%s.%N)
	! lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4"
}
t0=$(date +%s.%N)
lab_exec "$LAB_VICTIM" nft flush ruleset
took=""
lab_wait 20 kept_out && took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if [ -z "$took" ]; then
	bad "the attacker still gets in 20 s after nft flush ruleset: the feeds were not restored"
	grep 'feed\|table inet' "$LAB_DIR/dosips.log" | tail -n 5
elif awk -v t="$took" 'BEGIN { exit !(t <= 5) }'; then
	ok "after nft flush ruleset the listed attacker is dropped again in $took s (bound 5 s)"
else
	bad "after nft flush ruleset the listed attacker was dropped again only after $took s (bound 5 s)"
fi
set_has feed_firehol_level1_4 "198.18.0.3" &&
	ok "and the restored feed set holds 198.18.0.3" ||
	bad "the restored feed set does not hold 198.18.0.3"

# ---- bad bodies: refused, old list kept
check_refused() { # WHAT: serve $WWW/firehol.netset as prepared, expect a refusal
	r0=$(refused firehol_level1)
	e0=$(elements feed_firehol_level1_4)
	touch -d "+$((10 + r0 * 10)) seconds" "$WWW/firehol.netset"
	lab_wait 12 sh -c "[ \$(grep -c 'feed firehol_level1: .*refused' '$LAB_DIR/dosips.log') -gt $r0 ]" &&
		[ "$(elements feed_firehol_level1_4)" -eq "$e0" ] &&
		lab_reach "$LAB_CLIENT" "$LAB_VICTIM4" && ! lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" &&
		ok "$1 refused ($(grep 'feed firehol_level1: .*refused' "$LAB_DIR/dosips.log" |
			tail -n 1 | sed 's/.*firehol.netset: //')), $e0 elements kept" ||
		bad "$1 not refused or the old list was lost"
}
cp "$WWW/firehol.netset" "$LAB_DIR/good.netset"
head -c 700000 "$LAB_DIR/good.netset" >"$WWW/firehol.netset"
check_refused "a truncated feed"
printf '<html><body>502 Bad Gateway</body></html>\n' >"$WWW/firehol.netset"
check_refused "an HTML error page"
head -n 20000 "$LAB_DIR/good.netset" >"$WWW/firehol.netset"
check_refused "a feed shrunk to a fifth"

lab_exec "$LAB_VICTIM" "$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" feeds >"$LAB_DIR/ctl.out" 2>&1
grep -q '^firehol_level1 .* drop ' "$LAB_DIR/ctl.out" && grep -q '^spamhaus_drop .* 2 drop' "$LAB_DIR/ctl.out" &&
	ok "dosipsctl feeds lists both: $(grep '^spamhaus_drop' "$LAB_DIR/ctl.out" | tr -s ' ')" ||
	bad "dosipsctl feeds: $(cat "$LAB_DIR/ctl.out")"

# ---- server gone, table gone, restart: the last good copy is enforced
kill "$SRV_PID"
dosips_stop
lab_exec "$LAB_VICTIM" nft delete table inet dosips
dosips_start
lab_wait 10 grep -q "feed firehol_level1: .* entries from last good copy" "$LAB_DIR/dosips.log" &&
	ok "restart with the server down: $(grep -o 'feed firehol_level1: [0-9]* entries from last good copy' \
		"$LAB_DIR/dosips.log")" || bad "the last good copy was not loaded"
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" && bad "the attacker got in after the restart" ||
	ok "the attacker is dropped by the last good copy"
client_ok
dosips_stop
t_done
