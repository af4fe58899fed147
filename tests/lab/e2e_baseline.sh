#!/bin/sh
# e2e_baseline.sh - ordinary traffic raises nothing: pings, a few TCP
# connections with data, DNS-sized UDP datagrams and an IPv6 connection from
# the client, while dosips watches. No alert, no ban, empty ban sets.
. "$(dirname "$0")/lib.sh"
t_init baseline
dosips_start
lab_exec "$LAB_CLIENT" timeout 5 hping3 -q -1 -c 5 -i u100000 "$LAB_VICTIM4" >/dev/null 2>&1
_echo=$(lab_snmp "$LAB_VICTIM" Icmp InEchos)
[ "$_echo" -ge 5 ] && ok "5 pings from the client answered ($_echo echo requests in)" ||
	bad "only $_echo of 5 pings reached the victim"
_n=0
for _i in 1 2 3 4 5; do
	lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "baseline-$$-$_i" && _n=$((_n + 1))
done
[ "$_n" -eq 5 ] && ok "5 TCP connections with data from the client" || bad "$_n of 5 TCP connections went through"
lab_exec "$LAB_CLIENT" timeout 5 hping3 -q -2 -p "$LAB_UDP_PORT" -d 40 -c 10 -i u50000 \
	"$LAB_VICTIM4" >/dev/null 2>&1
_u=$(snmp_sample udp)
[ "$_u" -ge 10 ] && ok "10 UDP datagrams reached the victim's UDP layer ($_u)" ||
	bad "only $_u of 10 UDP datagrams reached the victim"
lab_reach "$LAB_CLIENT" "$LAB_VICTIM6" && ok "an IPv6 connection from the client" ||
	bad "no IPv6 connection from the client"
# Same traffic from the attacker's address: a quiet attacker is a client.
lab_send "$LAB_ATTACKER" "$LAB_VICTIM4" "baseline-attacker-$$" &&
	ok "a connection from the attacker's address" || bad "the attacker's address cannot connect"
sleep 0.3
_e=$(wc -l <"$LAB_DIR/events.json")
[ "$_e" -eq 0 ] && ok "no event from ordinary traffic" || bad "$_e events from ordinary traffic"
[ "$(ban_count ban4)" -eq 0 ] && [ "$(ban_count ban6)" -eq 0 ] && ok "ban sets empty" ||
	bad "ban sets not empty"
dosips_stop
# dosips must have watched it all, or the silence above proves nothing.
_p=$(report_field packets)
[ "${_p:-0}" -ge 30 ] && ok "dosips decoded $_p packets of it" ||
	bad "dosips decoded only ${_p:-0} packets: was it watching?"
t_done
