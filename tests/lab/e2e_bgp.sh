#!/bin/sh
# e2e_bgp.sh - floods pushed upstream as BGP FlowSpec: Debian's gobgpd is
# dosips's speaker in the victim namespace (AS 65001, its API on
# 127.0.0.1:50051 there) and a second gobgpd is the upstream router in the
# client namespace (AS 65002); the session carries ipv4- and ipv6-flowspec.
#
#   - a SYN flood above upstream.pps is banned and the router shows the
#     FlowSpec route "source ATTACKER/32 -> discard" within 1 s of the ban
#     (the ban dated by `nft monitor`);
#   - `dosipsctl unban` withdraws it;
#   - a whitelisted flooder is never announced;
#   - a flood below upstream.pps is banned but not announced;
#   - ban to route at the router, five attackers: the median is printed;
#   - dosipsctl peers and the metrics count the announcements;
#   - a clean stop withdraws what is left;
#   - what a crash left in the speaker is taken back at the next start:
#     our route of a source still banned stays (and goes at the stop), ours
#     of sources no longer banned go at once, the operator's own stay;
#   - a gobgpd restarted under dosips has the kept route again from the
#     audit of its table (every 30 s);
#   - with workers = 2, floods from two sources on different workers are
#     each announced within 1 s of their ban (each shard measures its own
#     sources), and the page lists the second among its top sources.
. "$(dirname "$0")/lib.sh"

PPS=1000
SPEAKER_API=127.0.0.1:50051
ROUTER_PORT=50052

if ! command -v gobgpd >/dev/null || ! command -v gobgp >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL gobgpd missing (scripts/deps.sh installs it)"; exit 1; }
	echo "skipped: gobgpd not installed"; exit 77
fi
t_init bgp

# bgp_config FILE AS ID PEER PEER_AS: a gobgpd with one neighbour.
bgp_config() {
	cat >"$1" <<EOF
[global.config]
  as = $2
  router-id = "$3"
  local-address-list = ["$3"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$4"
    peer-as = $5
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-flowspec"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-flowspec"
EOF
}

bgp_config "$LAB_DIR/speaker.toml" 65001 "$LAB_VICTIM4" "$LAB_CLIENT4" 65002
bgp_config "$LAB_DIR/router.toml" 65002 "$LAB_CLIENT4" "$LAB_VICTIM4" 65001
speaker_start() {
	lab_bg "$LAB_VICTIM" gobgpd -f "$LAB_DIR/speaker.toml" --api-hosts "$SPEAKER_API" \
		--pprof-disable -p >>"$LAB_DIR/speaker.log" 2>&1 </dev/null
	SPEAKER_PID=$LAB_LAST_PID
}
speaker_start
lab_bg "$LAB_CLIENT" gobgpd -f "$LAB_DIR/router.toml" --api-hosts "127.0.0.1:$ROUTER_PORT" \
	--pprof-disable -p >"$LAB_DIR/router.log" 2>&1 </dev/null

router() { lab_exec "$LAB_CLIENT" gobgp -p "$ROUTER_PORT" "$@"; }
established() { router neighbor 2>/dev/null | grep -q 'Establ'; }
lab_wait 30 established || fail "no BGP session: $(router neighbor 2>&1; tail -n 5 "$LAB_DIR/router.log")"
ok "BGP session established: $(router neighbor | tail -n 1 | tr -s ' ')"

# has_route ADDR: the router's ipv4-flowspec table has source ADDR/32.
has_route() { router global rib -a ipv4-flowspec 2>/dev/null | grep -q "\[source: $1/32\]"; }
no_route() { ! has_route "$1"; }
in_set() { ban_has ban4 "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ctl() { "$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" "$@"; }

# The extra attackers and the whitelisted flooder: addresses of the
# attacker's own interface, so that the victim's answers go back there.
for i in 31 32 33 34 35 36 37 38 40; do
	lab_exec "$LAB_ATTACKER" ip addr add "198.18.0.$i/15" dev "$LAB_IFACE" ||
		fail "cannot add 198.18.0.$i to the attacker"
done
WL=198.18.0.36
SLOW=198.18.0.37
T_BAN=300	# the bans of step 5 outlive steps 7 and 8
T_WHITELIST=$WL
T_CONF="upstream.speaker = $(command -v gobgp)
upstream.api = $SPEAKER_API
upstream.pps = $PPS
upstream.max = 16
http_listen = 9212"
dosips_start

# flood SRC INTERVAL COUNT: a SYN flood from SRC, bounded in count and time.
flood() {
	lab_exec "$LAB_ATTACKER" timeout 10 hping3 -q -S -a "$1" -p "$LAB_TCP_PORT" -i "$2" \
		-c "$3" "$LAB_VICTIM4" >/dev/null 2>&1
}

# ban_to_route SRC: floods from SRC well above PPS; prints the ms from the
# ban's `add element` in nft monitor to the route seen at the router.
ban_to_route() {
	_mark=$(wc -l <"$LAB_DIR/monitor.log")
	flood "$1" u100 8000 &
	_gen=$!
	lab_wait 10 in_set "$1" || { wait "$_gen"; echo "noban"; return; }
	lab_wait 5 has_route "$1" || { wait "$_gen"; echo "noroute"; return; }
	_t_route=$(now_ms)
	_t_ban=$(monitor_ban_time "$_mark" ban4 "$1")
	wait "$_gen"
	[ -n "$_t_ban" ] || { echo "nomonitor"; return; }
	awk -v a="$_t_ban" -v b="$_t_route" 'BEGIN { printf "%d\n", b - a * 1000 }'
}

# 1. A flood above pps: announced within 1 s of the ban.
ms=$(ban_to_route "$LAB_ATTACKER4")
case $ms in
[0-9]*) [ "$ms" -le 1000 ] && ok "flood above $PPS pps: the router has source $LAB_ATTACKER4/32 $ms ms after the ban (bound 1000)" ||
		bad "the route came $ms ms after the ban (bound 1000)" ;;
*) bad "flood above $PPS pps: $ms" ;;
esac
router global rib -a ipv4-flowspec | grep -q "$LAB_ATTACKER4/32.*discard" &&
	ok "its action is discard" || bad "router: $(router global rib -a ipv4-flowspec)"

# 2. The unban withdraws it.
ctl unban "$LAB_ATTACKER4" >/dev/null || bad "dosipsctl unban"
lab_wait 3 no_route "$LAB_ATTACKER4" && ok "dosipsctl unban: the route is withdrawn" ||
	bad "the route outlived the unban"

# 3. A whitelisted flooder: never banned, never announced.
flood "$WL" u100 8000 &
GEN=$!
seen=0
for _ in $(seq 1 30); do has_route "$WL" && seen=1; sleep 0.1; done
wait "$GEN"
sleep 1
has_route "$WL" && seen=1
[ $seen -eq 0 ] && ok "whitelisted flooder $WL: never announced" || bad "$WL was announced"
in_set "$WL" && bad "$WL was banned"

# 4. A flood below pps: banned, not announced.
flood "$SLOW" u5000 400 &
GEN=$!
lab_wait 10 in_set "$SLOW" || bad "the slow flood from $SLOW was not banned"
seen=0
for _ in $(seq 1 20); do has_route "$SLOW" && seen=1; sleep 0.1; done
wait "$GEN"
has_route "$SLOW" && seen=1
[ $seen -eq 0 ] && ok "flood below $PPS pps from $SLOW: banned, not announced" ||
	bad "$SLOW (below $PPS pps) was announced"

# 5. Ban to route at the router, five attackers.
times=""
for i in 31 32 33 34 35; do
	ms=$(ban_to_route "198.18.0.$i")
	case $ms in
	[0-9]*) times="$times $ms" ;;
	*) bad "198.18.0.$i: $ms" ;;
	esac
done
med=$(printf '%s\n' $times | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
note "ban to FlowSpec route at the router, ms:$times; median $med"
lab_wait 7 sh -c "'$BIN/dosipsctl' -s '$LAB_DIR/ctl.sock' peers | grep -q 'bgp session: $LAB_CLIENT4 Establ'" &&
	ok "dosipsctl peers: $(ctl peers | grep 'bgp session')" || bad "dosipsctl peers: $(ctl peers | grep 'bgp session')"
ctl peers | grep -q "bgp announcements: 5 active, 6 made, 1 withdrawn" &&
	ok "dosipsctl peers: $(ctl peers | grep 'bgp announcements')" ||
	bad "dosipsctl peers: $(ctl peers | grep bgp)"

scrape=$(lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9212/metrics)
metric() { printf '%s\n' "$scrape" | sed -n "s/^$1 //p"; }
[ "$(metric dosips_bgp_announcements)" = 5 ] && [ "$(metric dosips_bgp_withdrawn_total)" = 1 ] &&
	[ "$(metric dosips_bgp_session_up)" = 1 ] &&
	ok "metrics: dosips_bgp_announcements 5, withdrawn 1" ||
	bad "metrics: announcements '$(metric dosips_bgp_announcements)', withdrawn '$(metric dosips_bgp_withdrawn_total)'"
lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9212/api/state |
	python3 -c 'import json, sys; g = json.load(sys.stdin)["bgp"]; sys.exit(not (g["active"] == 5 and g["withdrawn"] == 1))' &&
	ok "the page's state: 5 FlowSpec announcements, 1 withdrawn" || bad "the page's state has no or wrong bgp figures"

# 6. A clean stop withdraws everything.
dosips_stop
routes=$(router global rib -a ipv4-flowspec 2>/dev/null | grep -c 'source:')
[ "$routes" -eq 0 ] && ok "stopped: every route withdrawn" ||
	bad "after the stop the router still has $routes FlowSpec routes"

# 7. A crash's leftovers, made by hand in the speaker while dosips is down:
#    ours for 198.18.0.35 (banned last, its ban still in the kernel), ours
#    for two sources no ban covers (one IPv6), and two of the operator's
#    (another match, another action).
speaker() { lab_exec "$LAB_VICTIM" gobgp -p "${SPEAKER_API#*:}" global rib "$@" >/dev/null; }
has_route6() { router global rib -a ipv6-flowspec 2>/dev/null | grep -q "\[source: $1"; }
in_set 198.18.0.35 || bad "the ban of 198.18.0.35 did not outlive the stop"
speaker -a ipv4-flowspec add match source 198.18.0.35/32 then discard &&
	speaker -a ipv4-flowspec add match source 198.18.0.99/32 then discard &&
	speaker -a ipv6-flowspec add match source 2001:db8:99::/64 then discard &&
	speaker -a ipv4-flowspec add match source 198.18.0.98/32 destination "$LAB_VICTIM4/32" \
		then discard &&
	speaker -a ipv4-flowspec add match source 198.18.0.97/32 then rate-limit 1000 ||
	fail "cannot add routes to the speaker"
lab_wait 5 has_route 198.18.0.99 && lab_wait 5 has_route6 2001:db8:99:: ||
	fail "the router did not get the leftovers: $(router global rib -a ipv4-flowspec)"
dosips_start
lab_wait 5 no_route 198.18.0.99 && ! has_route6 2001:db8:99:: &&
	ok "restart: the leftovers of bans no longer in force are withdrawn (IPv4 and IPv6)" ||
	bad "restart: leftovers still at the router: $(router global rib -a ipv4-flowspec; router global rib -a ipv6-flowspec)"
has_route 198.18.0.35 && ok "restart: the route of 198.18.0.35, still banned, is kept" ||
	bad "restart: the route of the banned 198.18.0.35 was withdrawn"
has_route 198.18.0.98 && has_route 198.18.0.97 &&
	ok "restart: the operator's routes (another match, another action) are left alone" ||
	bad "restart: an operator's route was withdrawn"
ctl peers | grep -q "3 found in the speaker, 0 lost by it" &&
	ok "dosipsctl peers: $(ctl peers | grep 'bgp announcements')" ||
	bad "dosipsctl peers: $(ctl peers | grep 'bgp announcements')"

# 8. The speaker restarted under dosips: its table (and the router's) empty.
kill "$SPEAKER_PID" && wait "$SPEAKER_PID" 2>/dev/null
lab_forget "$SPEAKER_PID"
speaker_start
lab_wait 30 established || fail "no BGP session after the speaker's restart"
lab_wait 40 has_route 198.18.0.35 &&
	ok "gobgpd restarted: the route of 198.18.0.35 is announced again by the audit" ||
	bad "gobgpd restarted: the route of 198.18.0.35 never came back"
ctl peers | grep -q "3 found in the speaker, 1 lost by it" &&
	ok "dosipsctl peers: $(ctl peers | grep 'bgp announcements')" ||
	bad "dosipsctl peers: $(ctl peers | grep 'bgp announcements')"
dosips_stop
no_route 198.18.0.35 && ok "stopped: the route announced again is withdrawn" ||
	bad "after the stop: $(router global rib -a ipv4-flowspec)"

# 9. workers = 2: each shard measures its own sources. 198.18.0.38 and
#    198.18.0.40 land on workers 0 and 1 (workers_shard).
T_CONF="$T_CONF
workers = 2"
dosips_start
grep -q "2 workers, sharded by source" "$LAB_DIR/dosips.log" ||
	bad "dosips does not say it runs 2 workers"
for a in 198.18.0.38 198.18.0.40; do
	ms=$(ban_to_route "$a")
	case $ms in
	[0-9]*) [ "$ms" -le 1000 ] && ok "workers = 2: the router has source $a/32 $ms ms after the ban (bound 1000)" ||
			bad "workers = 2: the route of $a came $ms ms after the ban (bound 1000)" ;;
	*) bad "workers = 2: $a: $ms" ;;
	esac
done
# page_top KIND: the page's top sources of KIND, one a line.
page_top() {
	lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9212/api/state |
		python3 -c 'import json, sys; [print(e["src"]) for e in json.load(sys.stdin)["top"][sys.argv[1]]]' "$1"
}
top_has() { page_top syn_flood 2>/dev/null | grep -q "^$1\(/32\)\{0,1\}\$"; }
lab_wait 5 top_has 198.18.0.40 &&
	ok "workers = 2: the page's top syn_flood sources: $(page_top syn_flood | tr '\n' ' ')" ||
	bad "workers = 2: the page's top syn_flood sources lack 198.18.0.40: '$(page_top syn_flood 2>&1 | tr '\n' ' ')'"
dosips_stop
routes=$(router global rib -a ipv4-flowspec 2>/dev/null | grep -c 'source:')
[ "$routes" -eq 0 ] && ok "workers = 2, stopped: every route withdrawn" ||
	bad "workers = 2: after the stop the router still has $routes FlowSpec routes"
t_done
