#!/bin/sh
# e2e_restart_flush.sh - bans live in the kernel, not in dosips: after
# `kill -9` the ban stays and keeps counting down; a restarted dosips adopts
# it with the time it has left (neither forgets nor extends it); and an
# `nft flush ruleset` by someone else is undone within a second, the ban
# back with its remaining time.
. "$(dirname "$0")/lib.sh"
t_init restart_flush
T_BAN=30
dosips_start
A_PROTO=tcp
FLOOD_COUNT=3000 attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"

# expires_ms ELEM: the kernel's time left for ELEM in ban4, in ms.
expires_ms() {
	lab_exec "$LAB_VICTIM" nft list set inet dosips ban4 2>/dev/null | tr '{},' '\n\n\n' |
		awk -v e="$1" '$1 == e { for (i = 2; i < NF; i++) if ($i == "expires") x = $(i + 1) }
		END {
			ms = 0
			while (match(x, /^[0-9]+(ms|s|m|h|d)/)) {
				u = substr(x, RSTART, RLENGTH); x = substr(x, RLENGTH + 1)
				n = u + 0; sub(/^[0-9]+/, "", u)
				ms += n * (u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : u == "h" ? 3600000 : 86400000)
			}
			print ms
		}'
}

# ctl_left ELEM: what the running dosips says is left of ELEM's ban.
ctl_left() {
	"$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" bans 2>/dev/null | awk -v e="$1" '$1 == e { print $3 }'
}

A=$LAB_ATTACKER4
ban_has ban4 "$A" || fail "no ban of $A to start from"
kill -KILL "$DOSIPS_PID"
wait "$DOSIPS_PID" 2>/dev/null
lab_forget "$DOSIPS_PID"
DOSIPS_PID=""
e1=$(expires_ms "$A")
ban_has ban4 "$A" && ok "kill -9: the ban of $A stays in the kernel (${e1} ms left)" ||
	bad "the ban vanished with the daemon"
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" && bad "the attacker gets through while dosips is down" ||
	ok "the attacker stays locked out while dosips is down"
sleep 1
dosips_start
e2=$(expires_ms "$A")
left=$(ctl_left "$A")
[ -n "$left" ] && ok "restarted dosips adopted the ban: dosipsctl bans says $left left" ||
	bad "restarted dosips does not list the ban of $A"
# Not extended: the kernel's clock kept running through the restart.
[ "$e2" -gt 0 ] && [ "$e2" -le $((e1 - 500)) ] && ok "not extended: ${e1} ms left before, ${e2} ms after the restart" ||
	bad "the ban was extended or lost across the restart (${e1} ms -> ${e2} ms)"

# Someone flushes the whole ruleset: dosips puts its table back.
t0=$(date +%s.%N)
lab_exec "$LAB_VICTIM" nft flush ruleset
back() { ban_has ban4 "$A"; }
if lab_wait 2 back; then
	t1=$(date +%s.%N)
	took=$(ms "$t0" "$t1")
	e3=$(expires_ms "$A")
	awk -v t="$took" 'BEGIN { exit !(t < 1000) }' &&
		ok "nft flush ruleset undone in $took ms (bound 1000 ms)" ||
		bad "nft flush ruleset undone only after $took ms (bound 1000 ms)"
	[ "$e3" -le "$e2" ] && [ "$e3" -gt 0 ] && ok "restored with its time left (${e3} ms), not a fresh ${T_BAN} s" ||
		bad "restored ban has ${e3} ms left, had ${e2} ms"
else
	bad "the table and the ban did not come back within 2 s of nft flush ruleset"
fi
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" && bad "the attacker gets through after the flush" ||
	ok "the attacker is locked out again"
grep -q "was removed by someone else" "$LAB_DIR/dosips.log" && ok "dosips logged the restore" ||
	bad "dosips did not log the restore"
client_ok
dosips_stop
t_done
