#!/bin/sh
# e2e_protect_live.sh - what is protected follows the host live. While
# dosips runs, the victim gains a default gateway (the lab's attacker) and
# a new address (as DHCP or SLAAC would add one): both appear in the
# kernel's allow set at once, a SYN flood from the new gateway and one
# forged from the new address are reported whitelisted and banned nowhere.
# When the route goes, so does its protection. The broadcast address of
# the victim's /24 (no host's; set without "brd", so derived from the
# netmask) is protected, and a flood forged from it is banned nowhere.
# And whitelisting is by
# containment, not overlap: a flood from another address of the victim's
# own IPv6 /64 is banned as that /64, while the victim's own address stays
# in allow6 and the client still gets in.
. "$(dirname "$0")/lib.sh"
t_init protect_live
NEW4=198.18.0.50
allow_has() { lab_exec "$LAB_VICTIM" nft list set inet dosips "$1" 2>/dev/null | grep -q "$2"; }
allow_lacks() { ! allow_has "$@"; }
flood4() { # SRC: 3000 SYNs to the victim, forged from SRC
	lab_exec "$LAB_ATTACKER" timeout 10 hping3 -q -S -p "$LAB_TCP_PORT" -c 3000 -i u100 \
		-a "$1" "$LAB_VICTIM4" >/dev/null 2>&1
}
whitelisted_seen() { [ -n "$(ev_lines whitelisted "$1")" ]; }
dosips_start

# ---- a gateway added while dosips runs ---------------------------------------
allow_lacks allow4 "$LAB_ATTACKER4" && ok "$LAB_ATTACKER4 is not protected at start" ||
	bad "$LAB_ATTACKER4 is protected before it is a gateway"
ip -n "$LAB_VICTIM" route add default via "$LAB_ATTACKER4"
lab_wait 2 allow_has allow4 "$LAB_ATTACKER4" &&
	ok "new default gateway $LAB_ATTACKER4 in allow4 within 2s" ||
	bad "new default gateway $LAB_ATTACKER4 not in allow4"
flood4 "$LAB_ATTACKER4"
lab_wait 5 whitelisted_seen "$LAB_ATTACKER4" &&
	ok "a flood from the new gateway is reported whitelisted" ||
	bad "no whitelisted event for the new gateway"
[ "$(ev_count ban)" -eq 0 ] && ok "and banned nowhere" || bad "$(ev_count ban) ban events"

# ---- an address added while dosips runs --------------------------------------
ip -n "$LAB_VICTIM" addr add "$NEW4/24" dev "$LAB_IFACE"
lab_wait 2 allow_has allow4 "$NEW4" && ok "new address $NEW4 in allow4 within 2s" ||
	bad "new address $NEW4 not in allow4"
flood4 "$NEW4"
lab_wait 5 whitelisted_seen "$NEW4" &&
	ok "a flood forged from the new address is reported whitelisted" ||
	bad "no whitelisted event for $NEW4"
[ "$(ban_count ban4)" -eq 0 ] && ok "ban4 is empty" || bad "ban4 holds $(ban_count ban4) elements"

# ---- the subnet's broadcast address -----------------------------------------
BCAST=198.18.0.255
allow_has allow4 "$BCAST" && ok "the /24's broadcast $BCAST is in allow4" ||
	bad "$BCAST not in allow4"
flood4 "$BCAST"
lab_wait 5 whitelisted_seen "$BCAST" &&
	ok "a flood forged from $BCAST is reported whitelisted" ||
	bad "no whitelisted event for $BCAST"
[ "$(ban_count ban4)" -eq 0 ] && ok "ban4 is still empty" || bad "ban4 holds $(ban_count ban4) elements"

# ---- protection goes with the route -------------------------------------------
ip -n "$LAB_VICTIM" route del default via "$LAB_ATTACKER4"
lab_wait 2 allow_lacks allow4 "$LAB_ATTACKER4" &&
	ok "the removed gateway left allow4" || bad "the removed gateway is still in allow4"

# ---- containment: the victim's own /64 is not immune --------------------------
INSIDE=2001:db8:0:1::66
NET64=2001:db8:0:1::/64
ip -n "$LAB_ATTACKER" addr add "$INSIDE/48" dev "$LAB_IFACE" nodad
lab_exec "$LAB_ATTACKER" timeout 10 nping -6 -q --send-eth -e "$LAB_IFACE" \
	--source-mac "$(lab_mac "$LAB_ATTACKER")" --dest-mac "$(lab_mac "$LAB_VICTIM")" \
	-S "$INSIDE" --tcp -p "$LAB_TCP_PORT" --flags syn --rate 20000 -c 8000 \
	"$LAB_VICTIM6" >/dev/null 2>&1
lab_wait 5 ban_has ban6 "$NET64" && ok "a flood from $INSIDE is banned as $NET64" ||
	bad "no ban of $NET64 (whitelisted for touching the victim's address?)"
[ -z "$(ev_lines whitelisted "$NET64")" ] && ok "and not reported whitelisted" ||
	bad "$NET64 reported whitelisted"
allow_has allow6 "$LAB_VICTIM6" && ok "the victim's own $LAB_VICTIM6 stays in allow6" ||
	bad "the victim's address is not in allow6"
client_ok
dosips_stop
t_done
