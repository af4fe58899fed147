#!/bin/sh
# e2e_cap.sh - the ban cap degrades, it does not fail open. Forged port
# scans (hping3 -a, one per forged /24) fill max_bans with low-severity
# bans; then a real SYN flood comes: the least severe ban is evicted for it
# (a ban_cap event says so) and the attacker is banned and dropped, where
# dosips used to only alert. Then forged scans of one /24 become one ban
# of the /24 instead of being refused. The kernel's set holds exactly
# what dosips says after each.
. "$(dirname "$0")/lib.sh"
t_init cap
T_BAN=300
T_CONF="max_bans = 6
aggregate_min = 3"
dosips_start
CTL="$BIN/dosipsctl -s $LAB_DIR/ctl.sock"
reason() { sed -n 's/.*"reason":"\([^"]*\)".*/\1/p'; }

# forged_scan SRC: 30 SYNs to 30 ports from the forged SRC (a port scan,
# below the SYN flood threshold).
forged_scan() {
	lab_exec "$LAB_ATTACKER" timeout 5 hping3 -q -S -a "$1" -p ++1 -c 30 -i u2000 \
		"$LAB_VICTIM4" >/dev/null 2>&1
	lab_wait 3 grep -q "\"event\":\"ban\",\"src\":\"$1\"" "$LAB_DIR/events.json" ||
		lab_wait 1 grep -q "\"src\":\"$1\".*\"event\":\"ban_cap\"\|\"event\":\"ban_cap\",\"src\":\"$1\"" "$LAB_DIR/events.json"
}

# same_bans: ban4 and dosipsctl bans list the same addresses.
same_bans() {
	lab_exec "$LAB_VICTIM" nft list set inet dosips ban4 | tr '{},' '\n\n\n' |
		awk '/ timeout / { print $1 }' | sort >"$LAB_DIR/k.list"
	$CTL bans | awk 'NR > 1 { print $1 }' | grep -v : | sort >"$LAB_DIR/d.list"
	cmp -s "$LAB_DIR/k.list" "$LAB_DIR/d.list"
}

for n in 51 52 53 54 55 56; do forged_scan "198.18.$n.1"; done
b=$(ev_count ban)
[ "$b" -eq 6 ] && ok "six forged scanners banned: the cap is full" ||
	bad "$b forged scanners banned, want 6"
[ "$(ban_count ban4)" -eq 6 ] && ok "ban4 holds 6 elements" || bad "ban4 holds $(ban_count ban4)"

# The real attacker: more severe than a port scan.
A_PROTO=tcp
FLOOD_COUNT=3000 attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"
ev=$(ev_lines ban_cap | grep -F 'evicted' | head -n 1)
[ -n "$ev" ] && ok "evicted for it: $(printf '%s\n' "$ev" | reason)" ||
	bad "no ban_cap event saying what was evicted"
[ "$(ev_count unban | tr -d ' ')" -ge 1 ] && [ -n "$(ev_lines unban | grep -F '"reason":"evicted"')" ] &&
	ok "the evicted ban's unban event says evicted" || bad "no unban event with reason evicted"
check "kernel and dosipsctl list the same bans after the eviction" same_bans

# Forged scans of one /24 at the cap: one ban of the /24.
for h in 1 2 3; do forged_scan "198.18.60.$h"; done
ev=$(ev_lines ban_cap | grep -F 'become one ban of 198.18.60.0/24' | head -n 1)
[ -n "$ev" ] && ok "aggregated: $(printf '%s\n' "$ev" | reason)" ||
	bad "no ban_cap event for aggregating 198.18.60.0/24"
ban_has ban4 198.18.60.0/24 && ok "ban4 holds 198.18.60.0/24" || bad "ban4 has no 198.18.60.0/24"
ban_has ban4 "$LAB_ATTACKER4" && ok "the attacker is still banned" || bad "the attacker's ban is gone"
check "kernel and dosipsctl list the same bans after the aggregation" same_bans
dosips_stop
t_done
