#!/bin/sh
# e2e_ipv6.sh - a SYN flood from two addresses of one IPv6 /64 (two nping
# at full speed: they send at Ethernet level to set the source, and then
# ignore --rate) is banned as the /64: ban6 holds 2001:db8:0:2::/64, a third
# address of that /64 is locked out, the client in another /64 is not.
. "$(dirname "$0")/lib.sh"
t_init ipv6
dosips_start
A_PROTO=tcp6 A_SRC=$LAB_ATTACKER6_NET A_ELEM=$LAB_ATTACKER6_NET A_SET=ban6 A_FLOOD=1
attack_run timeout 10 sh -c '
	for s in "$1" "$2"; do
		nping -6 -q --send-eth -e "$3" --source-mac "$4" --dest-mac "$5" -S "$s" \
			--tcp -p "$6" --flags syn --rate 20000 -c 8000 "$7" &
	done
	wait' nping "$LAB_ATTACKER6" "$LAB_ATTACKER6B" "$LAB_IFACE" "$(lab_mac "$LAB_ATTACKER")" \
	"$(lab_mac "$LAB_VICTIM")" "$LAB_TCP_PORT" "$LAB_VICTIM6"
attack_report syn_flood
ban_has ban6 "$LAB_ATTACKER6_NET" && ok "ban6 holds $LAB_ATTACKER6_NET" ||
	bad "ban6 does not hold $LAB_ATTACKER6_NET"
_third=2001:db8:0:2::99
ip -n "$LAB_ATTACKER" addr add "$_third/48" dev "$LAB_IFACE" nodad
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM6" "$_third" &&
	bad "$_third, in the banned /64, still gets through" ||
	ok "$_third, another address of the banned /64, is locked out"
lab_reach "$LAB_CLIENT" "$LAB_VICTIM6" && ok "the client ($LAB_CLIENT6) still reaches the service over IPv6" ||
	bad "the client cannot reach the service over IPv6"
dosips_stop
t_done
