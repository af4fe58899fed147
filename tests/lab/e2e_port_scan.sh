#!/bin/sh
# e2e_port_scan.sh - an nmap SYN scan of ports 1-200 (rate-capped, bounded
# in time) is banned as port_scan; once banned the scanner gets no answer.
. "$(dirname "$0")/lib.sh"
t_init port_scan
dosips_start
A_PROTO=tcp A_SRC=$LAB_ATTACKER4 A_ELEM=$LAB_ATTACKER4 A_SET=ban4 A_LINGER=1
attack_run timeout 20 nmap -n -Pn -sS -p 1-200 --max-rate 2000 --max-retries 1 \
	--host-timeout 15s "$LAB_VICTIM4"
attack_report port_scan
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" &&
	bad "the banned scanner still completes a handshake" ||
	ok "the banned scanner cannot complete a handshake"
client_ok
dosips_stop
t_done
