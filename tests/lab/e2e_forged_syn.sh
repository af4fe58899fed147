#!/bin/sh
# e2e_forged_syn.sh - a SYN flood forged in the name of a client that holds
# an open TCP session with the victim must not get that client banned: the
# alert is `spoofed`, nothing enters ban4, and the session carries on to its
# last line. The same flood from an idle address is a syn_flood and is
# banned. (hping3 -a forges the source; the victim's SYN-ACKs go to the
# real client, whose kernel resets them.)
. "$(dirname "$0")/lib.sh"
IDLE=198.18.0.77
LINES=80
t_init forged_syn
dosips_start

# A session: the client sends a line every 0.1 s for 8 s over one connection.
lab_bg "$LAB_CLIENT" sh -c "i=0; while [ \$i -lt $LINES ]; do echo sess-\$i; i=\$((i + 1));
	sleep 0.1; done | nc -N -w 5 $LAB_VICTIM4 $LAB_TCP_PORT" >/dev/null 2>&1
SESS=$LAB_LAST_PID
lab_wait 5 grep -qx sess-5 "$LAB_DIR/tcp.out" || fail "the client's session did not start"
ok "client $LAB_CLIENT4 holds a session with $LAB_VICTIM4:$LAB_TCP_PORT"

flood() {
	lab_exec "$LAB_ATTACKER" timeout 10 hping3 -q -S -a "$1" -p "$LAB_TCP_PORT" -i u2000 \
		-c 300 "$LAB_VICTIM4" >/dev/null 2>&1
}

flood "$LAB_CLIENT4"
note "300 SYNs forged from $LAB_CLIENT4 sent"
lab_wait 3 sh -c "grep -F '\"src\":\"$LAB_CLIENT4\"' '$LAB_DIR/events.json' | grep -qF '\"kind\":\"spoofed\"'" &&
	ok "alert of kind spoofed for $LAB_CLIENT4" || bad "no spoofed alert for $LAB_CLIENT4"
[ "$(ev_count ban "$LAB_CLIENT4")" -eq 0 ] && ! ban_has ban4 "$LAB_CLIENT4" &&
	ok "$LAB_CLIENT4 not banned" || bad "$LAB_CLIENT4 was banned by forged SYNs"
lab_wait 15 grep -qx "sess-$((LINES - 1))" "$LAB_DIR/tcp.out" &&
	ok "the session delivered all $LINES lines" ||
	bad "the session was cut: last line $(grep sess- "$LAB_DIR/tcp.out" | tail -n 1)"
wait "$SESS" 2>/dev/null
lab_forget "$SESS"

flood "$IDLE"
note "300 SYNs forged from idle $IDLE sent"
lab_wait 5 ban_has ban4 "$IDLE" && ok "$IDLE banned" || bad "$IDLE not banned"
ev_lines alert "$IDLE" | grep -qF '"kind":"syn_flood"' && ok "alert of kind syn_flood for $IDLE" ||
	bad "no syn_flood alert for $IDLE"
client_ok
dosips_stop
t_done
