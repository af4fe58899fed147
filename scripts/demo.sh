#!/bin/sh
# demo.sh - `make demo`: dosips against real attack tools, told stage by
# stage, in well under a minute. A lab of network namespaces (scripts/lab.sh)
# holds a victim running dosips with real nftables, a client and an
# attacker; nothing outside those namespaces is touched, and everything is
# torn down at the end, Ctrl-C included. Needs root.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, nftables): sudo make demo" >&2
	exit 1
fi
# The test library brings the lab, dosips's start and the measurements.
. "$TOP/tests/lab/lib.sh"
[ -x "$DOSIPS" ] || { echo "demo: no $DOSIPS: run make first" >&2; exit 1; }

SCAN=198.18.0.3 SYN=198.18.0.4 UDP=198.18.0.5 ICMP=198.18.0.6 TRUSTED=198.18.0.7
START=$(date +%s)

say() { printf '   %s\n' "$*"; }
stage() { printf '\n== %s\n' "$*"; LOG_MARK=$(cat "$LAB_DIR/dosips.log" 2>/dev/null | wc -l); }
# dosips's own words since the stage began: alerts, bans, whitelisted.
dosips_said() {
	tail -n +"$((LOG_MARK + 1))" "$LAB_DIR/dosips.log" |
		grep -E 'alert|ban |whitelisted|unban' | sed 's/^/   | /'
}
yesno() { if "$@"; then echo yes; else echo NO; fi; }
client_served() {
	say "the client still reaches the service: $(yesno lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "demo-$(date +%s%N)")"
}

# measured ADDR KIND: one line of what attack_run measured.
measured() {
	if [ -z "$A_TBAN" ]; then
		say "NOT banned ($A_SENT packets sent)"
		return
	fi
	say "banned $(ms "$A_T0" "$A_TBAN") ms after the first packet; $A_DROPPED later packets" \
		"dropped in the kernel, $A_SOCK reached the victim's $A_PROTO stack after the ban"
}

# flood NAME PROTO ADDR HPING3-ARGS...: a bounded hping3 flood from ADDR.
flood() {
	_what=$1 A_PROTO=$2 A_SRC=$3 A_ELEM=$3 A_SET=ban4; shift 3
	attack_run timeout 10 hping3 -q -c "$FLOOD_COUNT" -i "$FLOOD_INTERVAL" -a "$A_SRC" \
		"$@" "$LAB_VICTIM4"
}

echo "dosips demo: a lab of three network namespaces on one bridge"
lab_init
lab_trap
LAB_QUIET=1
lab_up && lab_services || { echo "demo: the lab did not come up" >&2; exit 1; }
for a in $SYN $UDP $ICMP $TRUSTED; do
	ip -n "$LAB_ATTACKER" addr add "$a/24" dev "$LAB_IFACE"
done
monitor_start
say "victim    $LAB_VICTIM4  runs dosips on $LAB_IFACE; TCP service on $LAB_TCP_PORT, UDP on $LAB_UDP_PORT"
say "client    $LAB_CLIENT4  an ordinary user"
say "attacker  $SCAN-7  nmap and hping3, one address per attack"

stage "dosips starts in the victim (whitelist: $TRUSTED)"
T_WHITELIST=$TRUSTED
LOG_MARK=0
dosips_start >/dev/null
say "$(basename "$DOSIPS") -i $LAB_IFACE --ban 60 -w whitelist --events events.json"
sed 's/^/   | /' "$LAB_DIR/dosips.log"

stage "1. Baseline: the client pings, connects and queries"
lab_exec "$LAB_CLIENT" timeout 5 hping3 -q -1 -c 5 -i u100000 "$LAB_VICTIM4" >/dev/null 2>&1
say "5 pings: $(lab_snmp "$LAB_VICTIM" Icmp OutEchoReps) answered"
n=0
for i in 1 2 3 4 5; do lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "hello-$i" && n=$((n + 1)); done
say "5 TCP connections with data: $n served"
lab_exec "$LAB_CLIENT" timeout 5 hping3 -q -2 -d 32 -c 5 -i u50000 -p "$LAB_UDP_PORT" \
	"$LAB_VICTIM4" >/dev/null 2>&1
say "5 UDP queries: $(snmp_sample udp) received"
say "alerts and bans so far: $(wc -l <"$LAB_DIR/events.json")"

stage "2. Port scan: nmap -sS -p 1-200 from $SCAN"
A_PROTO=tcp A_SRC=$SCAN A_ELEM=$SCAN A_SET=ban4 A_LINGER=1
attack_run timeout 20 nmap -n -Pn -sS -e "$LAB_IFACE" -S "$SCAN" -p 1-200 --max-rate 2000 \
	--max-retries 1 --host-timeout 15s "$LAB_VICTIM4"
A_LINGER=
dosips_said
measured
client_served

stage "3. SYN flood: hping3 -S to port $LAB_TCP_PORT from $SYN"
flood syn tcp "$SYN" -S -p "$LAB_TCP_PORT"
say "$A_SENT packets at $A_RATE packets/s"
dosips_said
measured
client_served

stage "4. UDP flood: hping3 -2 to port $LAB_UDP_PORT from $UDP"
flood udp udp "$UDP" -2 -d 32 -p "$LAB_UDP_PORT"
say "$A_SENT packets at $A_RATE packets/s"
dosips_said
measured
client_served

stage "5. ICMP flood: hping3 -1 (echo requests) from $ICMP"
flood icmp icmp "$ICMP" -1
say "$A_SENT packets at $A_RATE packets/s"
dosips_said
measured
client_served

stage "6. A whitelisted host floods: hping3 -S from $TRUSTED"
A_PROTO=tcp A_SRC=$TRUSTED A_ELEM="" A_SET=ban4
attack_run timeout 10 hping3 -q -c 3000 -i "$FLOOD_INTERVAL" -a "$TRUSTED" -S \
	-p "$LAB_TCP_PORT" "$LAB_VICTIM4"
dosips_said
say "reported, not banned: $A_PASSED of its $A_SENT packets let through"

stage "The bans, in the victim's kernel: nft list ruleset"
lab_exec "$LAB_VICTIM" nft list ruleset | sed 's/^/   /'

stage "dosips stops (bans stay in the kernel until they expire)"
dosips_stop >/dev/null
grep 'report: alerts\|report: sources' "$LAB_DIR/dosips.log" | tail -n 2 | sed 's/^/   | /'
printf '\nDone in %ss; the lab is torn down.\n' "$(( $(date +%s) - START ))"
