#!/bin/sh
# e2e_udp_flood.sh - an hping3 UDP flood at the victim's port 53 is banned as
# udp_flood within the bound; the datagrams after the ban never reach the
# victim's UDP layer, and the client still gets through.
. "$(dirname "$0")/lib.sh"
t_init udp_flood
dosips_start
A_PROTO=udp
# 32 bytes of payload, DNS-sized (and openbsd nc's UDP service spins on
# empty datagrams).
attack_flood4 udp_flood -2 -p "$LAB_UDP_PORT" -d 32
client_ok
dosips_stop
t_done
