#!/bin/sh
# e2e_syn_flood.sh - an hping3 SYN flood at the victim's TCP service is
# banned as syn_flood within the bound; afterwards the attacker's packets are
# dropped at the ingress and the client still gets through.
. "$(dirname "$0")/lib.sh"
t_init syn_flood
dosips_start
A_PROTO=tcp
attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" &&
	bad "the banned attacker still completes a handshake" ||
	ok "the banned attacker cannot complete a handshake"
client_ok
dosips_stop
t_done
