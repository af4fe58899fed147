#!/bin/sh
# e2e_faults.sh - bans are exactly what the kernel holds, whatever happens
# to the firewall. Faults injected one after another into a running dosips:
# an element of the operator's that a ban overlaps, a ban set filled by the
# operator, the table deleted, the whole ruleset flushed, dosips killed
# with -9 in the middle of a storm of bans, and restarted. After each,
# `nft list set` and `dosipsctl bans` agree element for element, with time
# left within 1 s; a ban the kernel refused is answered with an error, has
# a ban_failed event and no ban event. A restart keeps what a ban was (its
# kind, length and offences live in the element's comment).
. "$(dirname "$0")/lib.sh"
t_init faults
T_BAN=300
# A small set, so that the operator can fill it; the storm below stays
# under max_bans (the cap has unit tests of its own).
T_CONF="set_size = 64
max_bans = 64"
dosips_start
CTL="$BIN/dosipsctl -s $LAB_DIR/ctl.sock"
V() { lab_exec "$LAB_VICTIM" "$@"; }

# nft_bans: "ADDR MS" per element of ours (with a timeout) in ban4 and
# ban6, sorted; permanent elements (the operator's) are not ours.
nft_bans() {
	for _s in ban4 ban6; do V nft list set inet dosips "$_s" 2>/dev/null; done |
		tr '{},' '\n\n\n' | awk '/ timeout / {
			x = ""
			for (i = 2; i < NF; i++) if ($i == "expires") x = $(i + 1)
			ms = 0
			while (match(x, /^[0-9]+(ms|s|m|h|d)/)) {
				u = substr(x, RSTART, RLENGTH); x = substr(x, RLENGTH + 1)
				n = u + 0; sub(/^[0-9]+/, "", u)
				ms += n * (u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : u == "h" ? 3600000 : 86400000)
			}
			print $1, ms }' | sort
}

# ctl_bans: "ADDR S" per ban dosipsctl lists (time left in whole seconds,
# rounded up), sorted.
ctl_bans() {
	$CTL bans 2>/dev/null | awk 'NR > 1 && NF >= 5 {
		x = $3; s = 0
		while (match(x, /^[0-9]+(s|m|h|d)/)) {
			u = substr(x, RSTART, RLENGTH); x = substr(x, RLENGTH + 1)
			n = u + 0; sub(/^[0-9]+/, "", u)
			s += n * (u == "s" ? 1 : u == "m" ? 60 : u == "h" ? 3600 : 86400)
		}
		print $1, s }' | sort
}

# agree WHEN: the kernel's bans and dosips's are the same, element for
# element, time left within 1 s (the kernel read first: dosipsctl's whole
# seconds, rounded up, are then at most 1 s above and never below by more
# than the moment between the two reads).
agree() {
	nft_bans >"$LAB_DIR/nft.list"
	ctl_bans >"$LAB_DIR/ctl.list"
	_n=$(wc -l <"$LAB_DIR/nft.list")
	if ! cut -d' ' -f1 "$LAB_DIR/nft.list" | cmp -s - "$(cut -d' ' -f1 "$LAB_DIR/ctl.list" >"$LAB_DIR/ctl.addr"; echo "$LAB_DIR/ctl.addr")"; then
		bad "$1: the kernel and dosipsctl bans disagree"
		diff "$LAB_DIR/nft.list" "$LAB_DIR/ctl.list" | sed 's/^/     /' | head -n 20
		return 1
	fi
	_far=$(join "$LAB_DIR/nft.list" "$LAB_DIR/ctl.list" | awk '{
		d = $3 * 1000 - $2; if (d < 0) d = -d; if (d > 1000) print $1, $2 " ms", $3 " s" }')
	if [ -n "$_far" ]; then
		bad "$1: time left differs by more than 1 s: $_far"
		return 1
	fi
	ok "$1: the kernel and dosipsctl agree on all $_n bans, time left within 1 s"
}

# ev_after N TYPE [SRC]: events of TYPE (for SRC) after line N of the file.
ev_after() {
	tail -n +"$(( $1 + 1 ))" "$LAB_DIR/events.json" | grep -F "\"event\":\"$2\"" |
		grep -F "${3:+\"src\":\"$3\"}" | wc -l
}

# refused ADDR WORDS WHAT: `dosipsctl ban ADDR` is answered with the
# kernel's refusal (WORDS in it), a ban_failed event and no ban event.
refused() {
	_e0=$(wc -l <"$LAB_DIR/events.json")
	if _out=$($CTL ban "$1" 60 2>&1); then
		bad "$3: dosipsctl answered ok: $_out"
	else
		case $_out in
		*"the kernel refused the ban of $1: "*"$2"*) ok "$3 is refused: $_out" ;;
		*) bad "$3: dosipsctl answered: $_out" ;;
		esac
	fi
	sleep 0.2
	[ "$(ev_after "$_e0" ban_failed "$1")" -ge 1 ] && ok "a ban_failed event for $1" ||
		bad "no ban_failed event for $1"
	[ "$(ev_after "$_e0" ban "$1")" -eq 0 ] && ok "and no ban event" ||
		bad "a ban event for $1, which the kernel refused"
}

# -- a real attack, to have a ban with a kind of its own
A_PROTO=tcp
FLOOD_COUNT=3000 attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"
A=$LAB_ATTACKER4
for i in 1 2 3; do
	out=$($CTL ban "198.18.100.$i" 120 2>&1) || bad "dosipsctl ban 198.18.100.$i: $out"
done
$CTL ban 2001:db8:100::/64 200 >/dev/null 2>&1
agree "after four bans by hand and one for an attack"

# -- an element of the operator's that the ban would overlap
V nft add element inet dosips ban4 '{ 198.18.101.0/24 }' || fail "cannot add the operator's element"
refused 198.18.101.7 "overlaps an element" "a ban overlapping the operator's element"
agree "after the refused overlap"

# -- the operator fills the set
n=0
while [ $n -lt 300 ] && V nft add element inet dosips ban4 "{ 198.18.102.$n }" 2>/dev/null; do
	n=$((n + 1))
done
[ $n -lt 300 ] || fail "the set never filled (set_size?)"
note "the operator's elements filled ban4 after $n more"
refused 198.18.100.9 "set is full" "a ban into the full set"
agree "with the set full"
i=0
while [ $i -lt $n ]; do V nft delete element inet dosips ban4 "{ 198.18.102.$i }"; i=$((i + 1)); done
V nft delete element inet dosips ban4 '{ 198.18.101.0/24 }'

# -- the table deleted
V nft delete table inet dosips
back() { [ "$(nft_bans | wc -l)" -ge 5 ]; }
lab_wait 2 back && ok "the table deleted: restored" || bad "the table deleted: not restored within 2 s"
agree "after the table was deleted"

# -- the whole ruleset flushed: one warning for one event
w0=$(grep -c 'warning' "$LAB_DIR/dosips.log")
V nft flush ruleset
lab_wait 2 back && ok "nft flush ruleset: restored" || bad "nft flush ruleset: not restored within 2 s"
sleep 0.5
w1=$(grep -c 'warning' "$LAB_DIR/dosips.log")
[ $((w1 - w0)) -eq 1 ] && ok "one warning for the flush" ||
	{ bad "$((w1 - w0)) warnings for one flush"; tail -n 4 "$LAB_DIR/dosips.log" | sed 's/^/     /'; }
agree "after nft flush ruleset"

# -- kill -9 in the middle of a storm of bans, and a restart
( i=1; while [ $i -le 40 ]; do $CTL ban "198.18.103.$i" 250 >/dev/null 2>&1; i=$((i + 1)); done ) &
storm=$!
sleep 0.3
kill -KILL "$DOSIPS_PID"
wait "$DOSIPS_PID" 2>/dev/null
lab_forget "$DOSIPS_PID"
DOSIPS_PID=""
wait "$storm" 2>/dev/null
k=$(nft_bans | wc -l)
note "killed with -9 during the storm: the kernel holds $k bans"
sleep 1
dosips_start
agree "after kill -9 mid-storm and a restart"
grep -q "adopted [0-9]* bans" "$LAB_DIR/dosips.log" && ok "the adoption is logged: $(grep -o 'adopted [0-9]* bans.*' "$LAB_DIR/dosips.log" | tail -n 1)" ||
	bad "no log line about the adoption"
line=$($CTL bans | awk -v a="$A" '$1 == a')
set -- $line
[ "${2:-}" = syn_flood ] && [ "${4:-}" = 5m0s ] && [ "${5:-}" = 1 ] &&
	ok "the attacker's ban kept its kind, length and offences: $line" ||
	bad "the attacker's ban after the restart: '$line' (want syn_flood, 5m0s, 1)"
dosips_stop
t_done
