#!/bin/sh
# e2e_whitelist.sh - a whitelisted attacker floods: dosips reports it (a
# whitelisted event of the right kind) but bans nothing, and every packet of
# the flood still gets in, as does the attacker's next connection.
. "$(dirname "$0")/lib.sh"
t_init whitelist
T_WHITELIST="# the lab's attacker, trusted for this test
$LAB_ATTACKER4"
dosips_start
A_PROTO=tcp A_SRC=$LAB_ATTACKER4 A_ELEM="" A_SET=ban4
attack_run timeout 10 hping3 -q -c 5000 -i "$FLOOD_INTERVAL" -S -p "$LAB_TCP_PORT" "$LAB_VICTIM4"
note "sent: $A_SENT packets from $A_SRC at $A_RATE pps; $A_PASSED got past the ingress"
_w=$(ev_lines whitelisted "$LAB_ATTACKER4" | head -n 1)
[ -n "$_w" ] && ok "reported: whitelisted event, kind $(printf '%s\n' "$_w" | ev_field kind)" ||
	bad "no whitelisted event for $LAB_ATTACKER4"
[ "$(ev_count ban)" -eq 0 ] && ok "no ban event" || bad "$(ev_count ban) ban events"
[ "$(ban_count ban4)" -eq 0 ] && ok "ban4 is empty" || bad "ban4 holds $(ban_count ban4) elements"
[ "$A_DROPPED" -eq 0 ] && ok "dosips's drop rule counted nothing" ||
	bad "dosips's drop rule counted $A_DROPPED packets"
[ "$A_PASSED" -ge "$A_SENT" ] && ok "all $A_SENT packets got past the ingress" ||
	bad "only $A_PASSED of $A_SENT packets got past the ingress"
lab_send "$LAB_ATTACKER" "$LAB_VICTIM4" "whitelisted-$$" &&
	ok "the whitelisted attacker still reaches the service" ||
	bad "the whitelisted attacker cannot reach the service"
client_ok
dosips_stop
t_done
