#!/bin/sh
# e2e_ban_expiry.sh - a ban of --ban 3 seconds ends on time: the attacker is
# locked out, then an unban event comes, the element leaves ban4 and the
# attacker reaches the service again.
. "$(dirname "$0")/lib.sh"
t_init ban_expiry
T_BAN=3
dosips_start
A_PROTO=tcp
FLOOD_COUNT=3000 attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"
lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" && bad "the attacker gets through during the ban" ||
	ok "the attacker is locked out during the ban"
unbanned() { [ "$(ev_count unban "$LAB_ATTACKER4")" -gt 0 ] && ! ban_has ban4 "$LAB_ATTACKER4"; }
lab_wait $((T_BAN + 4)) unbanned || bad "no unban within $((T_BAN + 4)) s of the ban"
_t=$(date +%s.%N)
_u=$(ev_lines unban "$LAB_ATTACKER4" | head -n 1)
[ -z "$_u" ] || ok "unban event (reason $(printf '%s\n' "$_u" | ev_field reason))" \
	"$(ms "$A_TBAN" "$_t") ms after the ban reached the kernel"
ban_has ban4 "$LAB_ATTACKER4" && bad "198.18.0.3 still in ban4" || ok "ban4 no longer holds $LAB_ATTACKER4"
# Not before its time: the unban must come about T_BAN after the ban.
awk -v a="$A_TBAN" -v b="$_t" -v n="$T_BAN" 'BEGIN { exit !(b - a >= n - 0.1) }' &&
	ok "the ban lasted at least ${T_BAN}s" || bad "the ban ended early"
lab_wait 3 lab_send "$LAB_ATTACKER" "$LAB_VICTIM4" "after-expiry-$$" &&
	ok "the attacker reaches the service again" || bad "the attacker is still locked out"
client_ok
dosips_stop
t_done
