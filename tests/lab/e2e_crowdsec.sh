#!/bin/sh
# e2e_crowdsec.sh - one attacker banned across a fleet through CrowdSec's
# Local API: Debian's crowdsec runs its LAPI alone (-no-cs, no Central
# API, offline) in the client namespace; host A is dosips in the victim,
# host B a second dosips in the client namespace on its own interface and
# nftables. Both push their bans and pull the decisions stream (poll 1 s).
#
#   - a SYN flood banned on A is in `cscli decisions list` and in B's
#     kernel within the poll interval plus 1 s, with the same time left
#     (within 2 s);
#   - `cscli decisions add --ip X` bans X on both, `cscli decisions delete`
#     lifts it on both;
#   - the LAPI stopped for LAPI_DOWN_S (30) seconds while A bans three
#     attackers: after it is back, each is in the LAPI exactly once;
#   - ban on A to enforcement on B, five times: the median is printed.
. "$(dirname "$0")/lib.sh"

LAPI_DOWN_S=${LAPI_DOWN_S:-30}
POLL=1s

if ! command -v crowdsec >/dev/null || ! command -v cscli >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL crowdsec missing (scripts/deps.sh installs it)"; exit 1; }
	echo "skipped: crowdsec not installed"; exit 77
fi
t_init crowdsec
CS=$LAB_DIR/cs
LAPI_URL=http://$LAB_CLIENT4:8080

# lapi_config: a LAPI of the test's own: its database, logs and listening
# address in the scratch directory and the client namespace; Debian's
# hub and profiles are only read.
lapi_config() {
	mkdir -p "$CS/data" "$CS/notifications"
	: >"$CS/console.yaml"
	: >"$CS/acquis.yaml"
	cat >"$CS/config.yaml" <<EOF
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: $CS/
  working_dir: .
config_paths:
  config_dir: $CS/
  data_dir: $CS/data/
  simulation_path: /etc/crowdsec/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: $CS/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $CS/acquis.yaml
db_config:
  log_level: info
  type: sqlite
  db_path: $CS/data/crowdsec.db
  use_wal: true
api:
  client:
    insecure_skip_verify: false
    credentials_path: $CS/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: $LAB_CLIENT4:8080
    profiles_path: /etc/crowdsec/profiles.yaml
    console_path: $CS/console.yaml
    trusted_ips:
      - 127.0.0.1
      - $LAB_CLIENT4
prometheus:
  enabled: false
EOF
}

cscli_() { lab_exec "$LAB_CLIENT" cscli -c "$CS/config.yaml" --error "$@"; }

lapi_start() {
	lab_bg "$LAB_CLIENT" crowdsec -c "$CS/config.yaml" -no-cs >>"$CS/run.log" 2>&1 </dev/null
	LAPI_PID=$LAB_LAST_PID
	lab_wait 20 lapi_up || fail "the LAPI did not start (see $CS/run.log)"
}

lapi_up() { cscli_ decisions list -o json >/dev/null 2>&1; }

lapi_stop() {
	lab_kill "$LAPI_PID"
	wait "$LAPI_PID" 2>/dev/null
}

# lapi_count VALUE: active decisions for VALUE in the LAPI.
lapi_count() {
	cscli_ decisions list -o json 2>/dev/null | python3 -c '
import json, sys
alerts = json.load(sys.stdin) or []
print(sum(1 for a in alerts for d in (a.get("decisions") or []) if d["value"] == sys.argv[1]))' "$1"
}

# in_set NS ADDR: ADDR is in NS's ban4 set.
in_set() {
	lab_exec "$1" nft list set inet dosips ban4 2>/dev/null |
		tr '{},' '\n\n\n' | awk -v e="$2" '$1 == e { f = 1 } END { exit !f }'
}
not_in_set() { ! in_set "$@"; }

# left_ms NS ADDR: milliseconds left on ADDR's element in NS.
left_ms() {
	lab_exec "$1" nft list set inet dosips ban4 2>/dev/null | tr '{},' '\n\n\n' |
		awk -v e="$2" '$1 == e { for (i = 1; i < NF; i++) if ($i == "expires") print $(i + 1) }' |
		sed 's/\([0-9]\)\([a-z]\)/\1 \2/g' | awk '{ ms = 0
			for (i = 1; i < NF; i += 2) {
				u = $(i + 1); v = $i
				if (u ~ /^ms/) ms += v; else if (u ~ /^s/) ms += v * 1000
				else if (u ~ /^m/) ms += v * 60000; else if (u ~ /^h/) ms += v * 3600000
				else if (u ~ /^d/) ms += v * 86400000
			}
			print ms }'
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

lapi_config
# cscli's own machine, which `cscli decisions` logs in with.
cscli_ machines add cscli --auto -f "$CS/local_api_credentials.yaml" >/dev/null ||
	fail "cscli machines add cscli"
lapi_start
ok "crowdsec LAPI (pid $LAPI_PID) answers at $LAPI_URL, offline"
for h in A B; do
	cscli_ machines add "dosips$h" --password "pw$h-$$" -f "$CS/$h.yaml" >/dev/null ||
		fail "cscli machines add dosips$h"
	cscli_ bouncers add "dosips$h" -k "key$h-$$-0123456789" >/dev/null ||
		fail "cscli bouncers add dosips$h"
	echo "key$h-$$-0123456789" >"$CS/$h.key"
done

T_CONF="crowdsec.url = $LAPI_URL
crowdsec.credentials = $CS/A.yaml
crowdsec.api_key_file = $CS/A.key
crowdsec.poll = $POLL
crowdsec.queue = $LAB_DIR/A.queue
http_listen = 9212"
dosips_start

# Host B: the client namespace, its own interface, nftables and socket.
cat >"$LAB_DIR/b.conf" <<EOF
control_socket = $LAB_DIR/ctlB.sock
crowdsec.url = $LAPI_URL
crowdsec.credentials = $CS/B.yaml
crowdsec.api_key_file = $CS/B.key
crowdsec.poll = $POLL
crowdsec.queue = $LAB_DIR/B.queue
EOF
: >"$LAB_DIR/b.whitelist"
lab_bg "$LAB_CLIENT" "$DOSIPS" -i "$LAB_IFACE" --ban 60 -c "$LAB_DIR/b.conf" \
	-w "$LAB_DIR/b.whitelist" --events "$LAB_DIR/eventsB.json" >"$LAB_DIR/dosipsB.log" 2>&1 </dev/null
B_PID=$LAB_LAST_PID
lab_wait 5 grep -q "crowdsec: linked" "$LAB_DIR/dosipsB.log" || fail "dosips B did not link"
ok "dosips B (pid $B_PID) watches $LAB_CLIENT:$LAB_IFACE, linked to the same LAPI"
ctlA() { "$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" "$@"; }
ctlB() { lab_exec "$LAB_CLIENT" "$BIN/dosipsctl" -s "$LAB_DIR/ctlB.sock" "$@"; }

# 1. A flood banned on A reaches the LAPI and B's kernel.
lab_exec "$LAB_ATTACKER" timeout 10 hping3 -q -S -p "$LAB_TCP_PORT" -i u200 -c 2000 \
	"$LAB_VICTIM4" >/dev/null 2>&1 &
GEN=$!
lab_wait 10 in_set "$LAB_VICTIM" "$LAB_ATTACKER4" || fail "A did not ban the SYN flood"
t_a=$(now_ms)
if lab_wait 5 in_set "$LAB_CLIENT" "$LAB_ATTACKER4"; then
	t_b=$(now_ms)
	[ $((t_b - t_a)) -le 2000 ] && ok "the flood banned on A is enforced on B $((t_b - t_a)) ms later (bound 2000)" ||
		bad "B enforced the ban $((t_b - t_a)) ms after A (bound: poll 1 s + 1 s)"
else
	bad "B never banned $LAB_ATTACKER4"
fi
wait "$GEN"
[ "$(lapi_count "$LAB_ATTACKER4")" -eq 1 ] && ok "cscli decisions list: $LAB_ATTACKER4 once" ||
	bad "cscli decisions list has $LAB_ATTACKER4 $(lapi_count "$LAB_ATTACKER4") times"
cscli_ decisions list -o json | grep -q '"scenario": "dosips/syn_flood"' &&
	ok "its scenario is dosips/syn_flood" || bad "no dosips/syn_flood decision in the LAPI"
la=$(left_ms "$LAB_VICTIM" "$LAB_ATTACKER4") lb=$(left_ms "$LAB_CLIENT" "$LAB_ATTACKER4")
d=$(( ${la:-0} - ${lb:-0} )); d=${d#-}
[ -n "$la" ] && [ -n "$lb" ] && [ "$d" -le 2000 ] &&
	ok "time left: A ${la} ms, B ${lb} ms (within 2 s)" ||
	bad "time left differs: A ${la:-?} ms, B ${lb:-?} ms"
ctlA bans | grep -q "$LAB_ATTACKER4.*syn_flood" && ok "A lists it as its own syn_flood ban" ||
	bad "A's dosipsctl bans: $(ctlA bans)"
ctlB bans | grep -q "$LAB_ATTACKER4.*crowdsec" && ok "B lists it with origin crowdsec" ||
	bad "B's dosipsctl bans: $(ctlB bans)"

# 2. A decision made at the API bans on both, its deletion lifts on both.
X=198.18.0.77
cscli_ decisions add --ip "$X" --duration 5m --reason "dosips test" >/dev/null ||
	fail "cscli decisions add"
lab_wait 4 in_set "$LAB_VICTIM" "$X" && lab_wait 4 in_set "$LAB_CLIENT" "$X" &&
	ok "cscli decisions add --ip $X: banned on A and B" || bad "$X not banned on both"
cscli_ decisions delete --ip "$X" >/dev/null || fail "cscli decisions delete"
lab_wait 4 not_in_set "$LAB_VICTIM" "$X" && lab_wait 4 not_in_set "$LAB_CLIENT" "$X" &&
	ok "cscli decisions delete --ip $X: lifted on A and B" || bad "$X still banned somewhere"

# 3. The LAPI away: A's bans wait, then arrive once each.
lapi_stop
ok "LAPI stopped for ${LAPI_DOWN_S}s"
for i in 81 82 83; do
	ctlA ban "198.18.0.$i" 300 >/dev/null || bad "ctl ban 198.18.0.$i on A"
done
sleep "$LAPI_DOWN_S"
ctlA peers | grep -q "crowdsec queued: 3" && ok "A holds three pushes: $(ctlA peers | grep queued)" ||
	bad "A's queue: $(ctlA peers)"
lapi_start
for i in 81 82 83; do
	lab_wait 6 lab_exec "$LAB_CLIENT" sh -c "cscli -c '$CS/config.yaml' --error decisions list -o json | grep -q '\"198.18.0.$i\"'" ||
		true
	n=$(lapi_count "198.18.0.$i")
	[ "$n" -eq 1 ] && ok "198.18.0.$i reached the LAPI once after it came back" ||
		bad "198.18.0.$i is in the LAPI $n times"
	lab_wait 4 in_set "$LAB_CLIENT" "198.18.0.$i" || bad "198.18.0.$i not enforced on B"
done

# The link in A's metrics: up again, every ban of A's pushed, none waiting.
scrape=$(lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9212/metrics)
metric() { printf '%s\n' "$scrape" | sed -n "s/^$1 //p"; }
lab_wait 5 sh -c "ip netns exec '$LAB_VICTIM' curl -s http://127.0.0.1:9212/metrics | grep -q '^dosips_crowdsec_queued 0'"
scrape=$(lab_exec "$LAB_VICTIM" curl -s http://127.0.0.1:9212/metrics)
[ "$(metric dosips_crowdsec_up)" = 1 ] && [ "$(metric dosips_crowdsec_queued)" = 0 ] &&
	[ "$(metric dosips_crowdsec_pushed_total)" -ge 4 ] &&
	ok "metrics: dosips_crowdsec_up 1, pushed $(metric dosips_crowdsec_pushed_total), queued 0" ||
	bad "metrics: up '$(metric dosips_crowdsec_up)', pushed '$(metric dosips_crowdsec_pushed_total)', queued '$(metric dosips_crowdsec_queued)'"

# 4. Ban on A to enforcement on B, five times.
times=""
for i in 91 92 93 94 95; do
	t0=$(now_ms)
	ctlA ban "198.18.0.$i" 120 >/dev/null || bad "ctl ban 198.18.0.$i"
	lab_wait 5 in_set "$LAB_CLIENT" "198.18.0.$i" || { bad "198.18.0.$i never reached B"; continue; }
	times="$times $(( $(now_ms) - t0 ))"
done
med=$(printf '%s\n' $times | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
note "ban on A to enforcement on B (poll $POLL), ms:$times; median $med"

kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null; lab_forget "$B_PID"
dosips_stop
lapi_stop
t_done
