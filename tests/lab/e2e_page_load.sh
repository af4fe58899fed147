#!/bin/sh
# e2e_page_load.sh - the HTTP side under load does not slow the bans: the
# fastest flood the lab's tools make (hping3 --flood, UDP: the clients'
# TCP would blur the victim's TCP counters the flood is judged by) is run
# twice against dosips serving the page on the victim's loopback, first
# with nobody watching, then with 20 page clients (live feed plus a state
# poll a second each, as web/app.js) and a scrape every 100 ms
# (tests/lab/page/load.js). Both runs must lose no packet in the kernel
# (dosips_kernel_dropped_packets_total) and ban within the bound, the
# loaded run no more than LOAD_SLACK_MS (100) later than the quiet one; the
# load itself must be served (every scrape and poll answered, the ban
# reaching every feed).
. "$(dirname "$0")/lib.sh"
PORT=9211
LOAD_SLACK_MS=${LOAD_SLACK_MS:-100}
command -v node >/dev/null 2>&1 || {
	echo "skipped: node is not installed (sh scripts/deps.sh)"
	[ "${CI:-}" = true ] && exit 1; exit 77; }

t_init page_load
T_CONF="http_listen = $PORT"
dosips_start

kdrops() {
	lab_exec "$LAB_VICTIM" curl -sf "http://127.0.0.1:$PORT/metrics" |
		awk '$1 == "dosips_kernel_dropped_packets_total" { print $2 }'
}

# flood LABEL: the fastest UDP flood from the attacker, measured; leaves
# BAN_MS_<LABEL> and DROPS_<LABEL>.
flood() {
	_k0=$(kdrops)
	[ -n "$_k0" ] || fail "no /metrics from dosips"
	A_SRC=$LAB_ATTACKER4 A_ELEM=$LAB_ATTACKER4 A_SET=ban4 A_FLOOD=1 A_PROTO=udp
	attack_run timeout 3 hping3 -q --flood -c 400000 -2 -p "$LAB_UDP_PORT" -d 32 "$LAB_VICTIM4"
	attack_report udp_flood
	eval "BAN_MS_$1=\$A_BAN_MS RATE_$1=\$A_RATE DROPS_$1=$(( $(kdrops) - _k0 ))"
	# Lift the ban and let the windows and the cooldown pass for the next run.
	lab_exec "$LAB_VICTIM" "$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" unban "$LAB_ATTACKER4" >/dev/null ||
		fail "cannot lift the ban for the next run"
	sleep 6
}

flood quiet
lab_bg "$LAB_VICTIM" node "$TOP/tests/lab/page/load.js" "http://127.0.0.1:$PORT/" 20 \
	>"$LAB_DIR/load.out" 2>&1
LOAD_PID=$LAB_LAST_PID
sleep 3
flood loaded
kill -TERM "$LOAD_PID"; wait "$LOAD_PID"; lab_forget "$LOAD_PID"
LOAD=$(grep '^LOAD' "$LAB_DIR/load.out")
note "$LOAD"

note "quiet:  ${RATE_quiet} pps, ban after ${BAN_MS_quiet} ms, ${DROPS_quiet} kernel drops"
note "loaded: ${RATE_loaded} pps, ban after ${BAN_MS_loaded} ms, ${DROPS_loaded} kernel drops"
for r in quiet loaded; do
	eval "_d=\$DROPS_$r"
	[ "$_d" -eq 0 ] && ok "$r run: 0 packets dropped by the kernel before dosips read them" ||
		bad "$r run: $_d packets dropped by the kernel"
done
awk -v a="$BAN_MS_quiet" -v b="$BAN_MS_loaded" -v s="$LOAD_SLACK_MS" 'BEGIN { exit !(b <= a + s) }' &&
	ok "with the load the ban came after $BAN_MS_loaded ms, without $BAN_MS_quiet ms (slack $LOAD_SLACK_MS ms)" ||
	bad "with the load the ban took $BAN_MS_loaded ms, without $BAN_MS_quiet ms (slack $LOAD_SLACK_MS ms)"
get() { echo "$LOAD" | grep -o " $1=[0-9.]*" | cut -d= -f2; }
[ "$(get scrape_errors)" = 0 ] && [ "$(get scrapes)" -ge 50 ] &&
	ok "$(get scrapes) scrapes answered, none failed (slowest $(get scrape_max_ms) ms)" ||
	bad "scrapes: $(get scrapes) answered, $(get scrape_errors) failed"
[ "$(get state_errors)" = 0 ] && [ "$(get states)" -ge 100 ] &&
	ok "$(get states) page state polls answered, none failed" ||
	bad "page polls: $(get states) answered, $(get state_errors) failed"
# The loaded run's alert and ban reach each of the 20 feeds (and the
# quiet run's unban, which came before they connected, does not).
[ "$(get events)" -ge 40 ] && ok "the live feeds got $(get events) events (20 clients)" ||
	bad "the live feeds got $(get events) events, want the alert and ban on each of 20"
dosips_stop
t_done
