#!/bin/sh
# e2e_spoofed.sh - SYN floods from random spoofed sources (hping3
# --rand-source): dosips raises a ddos alert, does not ban the thousands of
# one-packet sources, and its memory stays bounded. With room for 4096
# sources, a first flood of 20000 new sources fills every slot (touching
# the state allocated up front); a second one of 20000 more must not grow
# VmHWM at all, beyond noise, and VmHWM stays under an absolute bound.
. "$(dirname "$0")/lib.sh"
HWM_BOUND_KB=${HWM_BOUND_KB:-65536}   # peak resident memory allowed
HWM_GROWTH_KB=${HWM_GROWTH_KB:-1024}  # second flood's growth allowed (~50 B/source)
CAPACITY=4096
t_init spoofed
T_CONF="capacity = $CAPACITY"
dosips_start
vm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$DOSIPS_PID/status"; }
sources() {
	tcpdump -r "$LAB_DIR/tap.pcap" -n -q 2>/dev/null | awk '{ print $3 }' |
		sed 's/\.[0-9]*$//' | sort -u | wc -l
}
spoof() {
	A_PROTO=tcp A_SRC=0.0.0.0/0 A_ELEM="" A_SET=ban4
	attack_run timeout 10 hping3 -q --rand-source -c 20000 -i "$FLOOD_INTERVAL" -S \
		-p "$LAB_TCP_PORT" "$LAB_VICTIM4"
}
_hwm0=$(vm)
note "dosips at start: VmHWM $_hwm0 kB (capacity $CAPACITY sources)"
spoof
_n1=$(sources) _hwm1=$(vm)
note "flood 1: $A_SENT packets from $_n1 distinct sources at $A_RATE pps; VmHWM $_hwm1 kB"
rate_note
_d=$(ev_lines alert | grep -F '"kind":"ddos"' | head -n 1)
[ -n "$_d" ] && ok "ddos alert: $(printf '%s\n' "$_d" | ev_field count) packets in" \
	"$(printf '%s\n' "$_d" | ev_field window_s) s to $(printf '%s\n' "$_d" | ev_field dst)" ||
	bad "no ddos alert"
spoof
_n2=$(sources) _hwm2=$(vm)
note "flood 2: $A_SENT packets from $_n2 more sources at $A_RATE pps; VmHWM $_hwm2 kB"
dosips_alive || fail "dosips died under the spoofed floods"
_b=$(ban_count ban4)
[ "$_b" -le 5 ] && ok "no mass banning: $_b elements in ban4, $(ev_count ban) ban events" ||
	bad "$_b sources banned"
[ "$_hwm2" -le "$HWM_BOUND_KB" ] && ok "VmHWM $_hwm2 kB within $HWM_BOUND_KB kB" ||
	bad "VmHWM $_hwm2 kB above $HWM_BOUND_KB kB"
[ $((_hwm2 - _hwm1)) -le "$HWM_GROWTH_KB" ] &&
	ok "VmHWM grew by $((_hwm2 - _hwm1)) kB over the second flood's $_n2 sources" \
		"(bound $HWM_GROWTH_KB kB; the first, filling the table, added $((_hwm1 - _hwm0)) kB)" ||
	bad "VmHWM grew by $((_hwm2 - _hwm1)) kB over the second flood's $_n2 sources" \
		"(bound $HWM_GROWTH_KB kB): memory follows the number of sources"
client_ok
dosips_stop
set -- "$(report_field sources_tracked)" "$(report_field sources_evicted)"
[ "${1:-999999}" -le "$CAPACITY" ] && [ "${2:-0}" -gt 0 ] &&
	ok "sources tracked $1 <= $CAPACITY, $2 evicted" ||
	bad "sources tracked ${1:-?}, evicted ${2:-?}: capacity $CAPACITY not enforced"
echo "MEASURED $T_NAME sources=$((_n1 + _n2)) rate_pps=$A_RATE bans=$_b vmhwm_kb=$_hwm2" \
	"growth1_kb=$((_hwm1 - _hwm0)) growth2_kb=$((_hwm2 - _hwm1)) tracked=${1:-?} evicted=${2:-?}"
t_done
