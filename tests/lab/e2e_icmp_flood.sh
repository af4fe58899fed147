#!/bin/sh
# e2e_icmp_flood.sh - an hping3 ICMP echo flood is banned as icmp_flood
# within the bound; no echo request reaches the victim's stack after the
# ban, and the client still gets through.
. "$(dirname "$0")/lib.sh"
t_init icmp_flood
dosips_start
A_PROTO=icmp
attack_flood4 icmp_flood -1
client_ok
dosips_stop
t_done
