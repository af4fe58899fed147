#!/bin/sh
# ops.sh - operating a running dosips: dosipsctl commands and permissions,
# reload (good, bad, SIGHUP, log rotation), least privilege, hooks that
# overrun without delaying bans, and a netlink restore after the drop to
# another user. Two namespaces of our own joined by a veth pair, addresses
# in 198.18.0.0/15 only, real nftables inside the victim namespace.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft hping3 setpriv nc curl; do
	command -v $t >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DOSIPS_BUILD:-$TOP/build/release}   # DOSIPS_BUILD=build/asan for sanitizers
[ -x "$BIN/dosips" ] && [ -x "$BIN/dosipsctl" ] || { echo "build first: make"; exit 1; }

V=dosops-v-$$
A=dosops-a-$$
T=$(mktemp -d /tmp/dosips-ops.XXXXXX)
chmod 755 "$T"                  # nobody must reach the socket inside
SOCK=$T/ctl.sock
NOGROUP=$(id -gn nobody)
pids=""

cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	ip netns del "$V" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$TOP/tests/common.sh"
ctl() { "$BIN/dosipsctl" -s "$SOCK" "$@"; }
quiet() { "$@" >/dev/null; }
as_nobody() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$@"; }
in_v() { ip netns exec "$V" "$@"; }
in_a() { ip netns exec "$A" "$@"; }
# waits up to 5 s for a condition (a command)
wait_for() { i=0; while ! "$@"; do i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.05; done; }
# the ts of the first event of type $1 from source $2, in seconds
event_ts() {
	ts=$(grep "\"event\":\"$1\"" "$T/events.json" | grep "\"src\":\"$2\"" | head -n 1 |
	     sed 's/.*"ts":"\([^"]*\)".*/\1/')
	[ -n "$ts" ] && date -d "$ts" +%s.%N
}
set_has() { in_v nft list set inet dosips ban4 2>/dev/null | grep -q "$1"; }
set_lacks() { ! set_has "$1"; }
has_line() { printf '%s\n' "$1" | grep -q "$2"; }   # TEXT REGEX

ip netns add "$V" && ip netns add "$A" || exit 1
ip link add v0 netns "$V" type veth peer name a0 netns "$A"
ip -n "$V" addr add 198.18.0.1/24 dev v0
ip -n "$A" addr add 198.18.0.2/24 dev a0
ip -n "$A" addr add 198.18.0.3/24 dev a0
for ns in "$V" "$A"; do ip -n "$ns" link set lo up; done
ip -n "$V" link set v0 up
ip -n "$A" link set a0 up

# The on_ban hook sleeps far past hook_timeout and records its pid.
cat > "$T/slow-hook" <<EOF
#!/bin/sh
echo \$\$ >> "$T/hook.pids"
cat >> "$T/hook.stdin"
exec sleep 30
EOF
chmod 755 "$T/slow-hook"
echo 198.18.0.200 > "$T/whitelist"
write_conf() { # EXTRA-LINE
	cat > "$T/dosips.conf" <<EOF
control_socket = $SOCK
control_group = $NOGROUP
events = $T/events.json
whitelist = $T/whitelist
ban = 90
on_ban = $T/slow-hook
on_unban = $TOP/scripts/webhook-hook.sh http://127.0.0.1:8099/ json
hook_timeout = 2s
user =
$1
[syn_flood]
threshold = 50
EOF
}
write_conf ""

# ---- before the daemon ----------------------------------------------------
out=$(ctl status 2>&1); st=$?
check "dosipsctl without a daemon exits 3" [ $st -eq 3 ]
check "and says so" [ "$out" = "dosipsctl: dosips is not running (no socket at $SOCK)" ]
out=$("$BIN/dosips" -c "$T/dosips.conf" -n 2>&1)
check "dosips -n accepts the configuration" [ "$out" = "configuration OK" ]
printf 'ban = 90\n[syn_flood]\nthreshold = lots\n' > "$T/bad.conf"
out=$("$BIN/dosips" -c "$T/bad.conf" -n 2>&1); st=$?
check "dosips -n rejects a bad file with its line (exit 1)" \
	[ $st -eq 1 -a "$out" = "dosips: $T/bad.conf:3: expected a whole number" ]
out=$("$BIN/dosips" -c "$T/dosips.conf" --ban never -n 2>&1); st=$?
check "a bad option value is a usage error (exit 2)" [ $st -eq 2 ]

# ---- start ---------------------------------------------------------------
ip netns exec "$V" "$BIN/dosips" -i v0 -c "$T/dosips.conf" --ban 45 > "$T/log" 2>&1 &
DPID=$!
pids="$pids $DPID"
wait_for [ -S "$SOCK" ] || { cat "$T/log"; bad "control socket appears"; exit 1; }
ok "daemon up (pid $DPID)"

st_line() { grep "^$1" "/proc/$DPID/status" | awk '{print $2}'; }
check "only CAP_NET_ADMIN and CAP_NET_RAW are left" [ "$(st_line CapEff)" = 0000000000003000 ]
check "permitted set likewise" [ "$(st_line CapPrm)" = 0000000000003000 ]
check "bounding set emptied" [ "$(st_line CapBnd)" = 0000000000000000 ]
check "socket mode 0660, group $NOGROUP" \
	[ "$(stat -c '%a %G' "$SOCK")" = "660 $NOGROUP" ]

out=$(ctl status)
check "status answers" [ $? -eq 0 ]
check "status names the interface" has_line "$out" '^source: v0$'
check "status shows no bans" has_line "$out" '^bans: 0 active'
out=$("$BIN/dosipsctl" -c "$T/dosips.conf" status | grep -c '^packets: ')
check "dosipsctl -c finds the socket in the configuration" [ "$out" = 1 ]

# ---- the command line beats the file: --ban 45 over ban = 90 --------------
out=$(ctl ban 198.18.0.77)
check "ban by hand uses the --ban length" [ "$out" = "banned 198.18.0.77 for 45s" ]
check "ban is in the kernel set" set_has 198.18.0.77
check "bans lists it as manual" has_line "$(ctl bans)" '^198.18.0.77  *manual '
out=$(ctl ban 198.18.0.80/30 10m)
check "ban of a prefix with a duration" [ "$out" = "banned 198.18.0.80/30 for 10m0s" ]
out=$(ctl ban 198.18.0.200 2>&1); st=$?
check "whitelisted address refused" [ $st -eq 1 -a "$out" = "dosipsctl: 198.18.0.200 is whitelisted: not banned" ]
out=$(ctl ban 0.0.0.0/0 2>&1); st=$?
check "banning everything refused" [ $st -eq 1 ]
out=$(ctl frobnicate 2>&1); st=$?
check "unknown command" [ $st -eq 1 -a "$out" = "dosipsctl: unknown command frobnicate (try help)" ]

# ---- permissions -----------------------------------------------------------
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" status 2>&1)
check "group member may read status" [ $? -eq 0 ]
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" ban 198.18.0.99 2>&1); st=$?
check "group member may not ban" [ $st -eq 1 -a "$out" = "dosipsctl: permission denied: ban needs root" ]
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" unban 198.18.0.77 2>&1); st=$?
check "group member may not unban" [ $st -eq 1 ]
check "and the ban stayed" set_has 198.18.0.77
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" reload 2>&1); st=$?
check "group member may not reload" [ $st -eq 1 ]
out=$(setpriv --reuid=4242 --regid=4242 --clear-groups "$BIN/dosipsctl" -s "$SOCK" status 2>&1); st=$?
check "others cannot even connect" [ $st -eq 1 ] && echo "     ($out)"

# ---- clients that misbehave cannot stall the daemon ------------------------
(sleep 3 | timeout 5 nc -U "$SOCK" >/dev/null) &
pids="$pids $!"
(printf 'stat' ; sleep 3) | timeout 5 nc -U "$SOCK" >/dev/null &
pids="$pids $!"
sleep 0.2
t0=$(date +%s.%N)
out=$(ctl status | grep -c '^version: ')
t1=$(date +%s.%N)
check "answers while two clients hang" [ "$out" = 1 ]
check "and at once" awk "BEGIN { exit !($t1 - $t0 < 0.5) }"
out=$(head -c 600 /dev/zero | tr '\0' a | timeout 5 nc -N -U "$SOCK")
check "an over-long request is refused" [ "$out" = "error: request too long" ]
out=$(printf 'status' | timeout 5 nc -N -U "$SOCK" | tail -n 1)
check "a request may end at end of input" [ "$out" = "ok" ]

# ---- unban, with the webhook example as on_unban --------------------------
in_v sh -c "printf 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' |
	timeout 10 nc -l -N 127.0.0.1 8099 > '$T/webhook.req'" &
NCPID=$!
pids="$pids $NCPID"
sleep 0.3
out=$(ctl unban 198.18.0.77)
check "unban" [ "$out" = "unbanned 198.18.0.77" ]
check "gone from the kernel set" wait_for set_lacks 198.18.0.77
out=$(ctl unban 198.18.0.77 2>&1); st=$?
check "unban of what is not banned" [ $st -eq 1 -a "$out" = "dosipsctl: 198.18.0.77 is not banned" ]
wait $NCPID 2>/dev/null
check "webhook-hook.sh posted the unban line" \
	grep -q '^{"ts":"[^"]*","event":"unban","src":"198.18.0.77".*"reason":"manual"}$' "$T/webhook.req"

# ---- reload ------------------------------------------------------------------
echo 198.18.0.78 >> "$T/whitelist"
printf '%s\n' "control_socket = $SOCK" "[syn_flood]" "threshold = -5" > "$T/dosips.conf"
out=$(ctl reload 2>&1); st=$?
check "reload of a bad file fails with file:line" \
	[ $st -eq 1 -a "$out" = "dosipsctl: $T/dosips.conf:3: expected a whole number" ]
kill -HUP $DPID
sleep 0.3
check "SIGHUP with a bad file: daemon still running" kill -0 $DPID
check "and logs why" grep -q "reload failed, nothing changed: $T/dosips.conf:3:" "$T/log"
out=$(ctl ban 198.18.0.78 30)
check "old whitelist still in force after the failed reload" [ "$out" = "banned 198.18.0.78 for 30s" ]
ctl unban 198.18.0.78 >/dev/null
write_conf "hook_max = 4"
mv "$T/events.json" "$T/events.json.1"
kill -HUP $DPID
check "SIGHUP with a good file reloads" wait_for grep -q "reloaded $T/dosips.conf" "$T/log"
check "events file reopened after rotation" wait_for [ -e "$T/events.json" ]
out=$(ctl ban 198.18.0.78 2>&1)
check "new whitelist in force" [ "$out" = "dosipsctl: 198.18.0.78 is whitelisted: not banned" ]
printf '%s\n' "[syn_flood]" "threshold = 60" >> "$T/dosips.conf"
check "dosipsctl reload" quiet ctl reload
check "new detection settings noted" wait_for grep -q "new detection settings" "$T/log"

# ---- a hook that overruns delays no ban ----------------------------------
in_a timeout 10 hping3 -q -S -p 80 -c 200 -i u2000 198.18.0.1 >/dev/null 2>&1
in_a timeout 10 hping3 -q -S -p 81 -c 200 -i u2000 -a 198.18.0.3 198.18.0.1 >/dev/null 2>&1
check "first flood banned" wait_for set_has 198.18.0.2
check "second flood banned" wait_for set_has 198.18.0.3
for src in 198.18.0.2 198.18.0.3; do
	a=$(event_ts alert $src); b=$(event_ts ban $src)
	if [ -n "$a" ] && [ -n "$b" ] && awk "BEGIN { exit !($b - $a < 0.5) }"; then
		ok "ban of $src $(awk "BEGIN { printf \"%.3f\", $b - $a }")s after its alert"
	else
		bad "ban of $src within 0.5s of its alert (alert $a, ban $b)"
	fi
done
b1=$(event_ts ban 198.18.0.2); b2=$(event_ts ban 198.18.0.3)
check "second ban came while the first hook still ran" \
	awk "BEGIN { exit !($b2 - $b1 < 2.0) }"
check "each ban ran its hook with the JSON line" \
	[ "$(grep -c '"event":"ban"' "$T/hook.stdin")" -ge 2 ]
check "overrunning hooks killed after hook_timeout" \
	wait_for [ "$(grep -c 'still running after 2s: killed' "$T/log")" -ge 2 ]
for p in $(cat "$T/hook.pids"); do
	check "hook $p is gone" wait_for sh -c "! kill -0 $p 2>/dev/null || grep -q '^State:.*Z' /proc/$p/status"
done
out=$(ctl stats)
check "stats count the alerts across the reload" has_line "$out" '^alerts.syn_flood=2$'
check "stats count the killed hooks" \
	[ "$(printf '%s\n' "$out" | sed -n 's/^hooks_killed=//p')" -ge 2 ]

# ---- stop ------------------------------------------------------------------
kill -TERM $DPID
wait $DPID; st=$?
check "SIGTERM: clean exit" [ $st -eq 0 ]
check "socket removed" [ ! -e "$SOCK" ]
check "bans outlive the daemon" set_has 198.18.0.2
out=$(ctl status 2>&1); st=$?
check "dosipsctl after stop exits 3" [ $st -eq 3 ]

# ---- as another user: netlink still works after the drop ---------------------
write_conf "user = nobody"
ip netns exec "$V" "$BIN/dosips" -i v0 -c "$T/dosips.conf" > "$T/log2" 2>&1 &
DPID=$!
pids="$pids $DPID"
wait_for [ -S "$SOCK" ] || { cat "$T/log2"; bad "second daemon up"; exit 1; }
sleep 0.2
check "runs as nobody" [ "$(st_line Uid)" = 65534 ]
check "with CAP_NET_ADMIN and CAP_NET_RAW only" [ "$(st_line CapEff)" = 0000000000003000 ]
check "adopted the bans left in the kernel" has_line "$(ctl bans)" '^198.18.0.2 '
check "ban as nobody" quiet ctl ban 198.18.0.90 300
in_v nft delete table inet dosips
check "deleted table restored with its bans" wait_for set_has 198.18.0.90
check "logged" grep -q "was removed by someone else" "$T/log2"
check "reload works as nobody" quiet ctl reload
kill -TERM $DPID
wait $DPID
check "clean exit as nobody" [ $? -eq 0 ]

[ $T_FAILED -eq 0 ] || { echo "--- daemon log"; cat "$T/log"; exit 1; }
echo "all ops checks passed"
