#!/bin/sh
# ctl_pressure.sh - the control socket under pressure: idle clients never
# lock root out, a client trickling bytes is dropped at a fixed deadline, an
# over-long request gets its answer and an end of file (no reset), refused
# clients get words, dosipsctl never dies silently (soak), and dosipsctl's
# own request builder stays inside its buffer. dosips runs --dry-run in a
# network namespace of our own, watching its loopback only.
. "$(dirname "$0")/ns.sh"
ns_init ctl setpriv
PROBE=$BIN/tools/ctlprobe
[ -x "$PROBE" ] || { echo "FAIL build first: make all tests"; exit 1; }
SOCK=$T/ctl.sock
ctl() { "$BIN/dosipsctl" -s "$SOCK" "$@"; }
lt() { awk "BEGIN { exit !($1 < $2) }"; }

# ---- dosipsctl's request builder (no daemon needed) -------------------------
# The ASan+UBSan build, where there is one, shows a write past the buffer.
CTL=$BIN/dosipsctl
[ -x "$TOP/build/asan/dosipsctl" ] && CTL=$TOP/build/asan/dosipsctl
long=$(head -c 505 /dev/zero | tr '\0' a)
out=$("$CTL" -s "$T/none.sock" unban "$long" 2>&1); st=$?
check "dosipsctl: a 512-byte request line is refused at home (exit 2)" [ $st -eq 2 ]
check "and in words, with no sanitizer report" \
	[ "$out" = "dosipsctl: request too long or not one line" ]

# ---- the daemon --------------------------------------------------------------
printf '%s\n' "control_socket = $SOCK" "control_group = $NOGROUP" "max_bans = 20000" "user =" \
	> "$T/dosips.conf"
: > "$T/whitelist"
ip netns exec "$N" "$BIN/dosips" -i lo --dry-run -c "$T/dosips.conf" -w "$T/whitelist" \
	> "$T/log" 2>&1 &
DPID=$!
wait_for [ -S "$SOCK" ] || { cat "$T/log"; bad "control socket appears"; exit 1; }
ok "daemon up (pid $DPID)"

out=$(ctl unban "$(head -c 504 /dev/zero | tr '\0' a)" 2>&1); st=$?
check "the longest line dosipsctl sends reaches the daemon whole" \
	[ $st -eq 1 -a "$out" = "dosipsctl: $(head -c 504 /dev/zero | tr '\0' a): expected an address or ADDR/LEN" ]

# ---- an over-long request: the answer, then end of file ----------------------
out=$("$PROBE" "$SOCK" big 200000)
check "over-long request answered in words" [ "$(echo "$out" | sed -n 1p)" = "error: request too long" ]
check "then a clean end of file, not a reset" [ "$(echo "$out" | sed -n 2p)" = "eof" ]

# ---- a client trickling bytes is dropped at its deadline ---------------------
out=$("$PROBE" "$SOCK" trickle 9)
check "a client sending a byte every 0.5s is dropped within 7s ($out)" \
	[ "$out" != open ] && lt "$out" 7

# ---- idle clients holding every slot do not lock root out ---------------------
# (64 slots; the daemon before this test had 16, and 16 locked root out.)
"$PROBE" "$SOCK" idle 64 5 > "$T/idle.out" &
NS_PIDS="$NS_PIDS $!"
IDLE=$!
sleep 1.5
t0=$(date +%s.%N)
out=$(ctl status 2>&1); st=$?
t1=$(date +%s.%N)
check "root answered while 64 idle clients hold every slot" [ $st -eq 0 ]
check "at once" lt "$(awk "BEGIN { print $t1 - $t0 }")" 1
out=$(setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$BIN/dosipsctl" -s "$SOCK" status 2>&1); st=$?
check "and so is a control_group member" [ $st -eq 0 ]
wait $IDLE
check "the idle client shed for root was told why" [ "$(cat "$T/idle.out")" -ge 1 ]

# ---- every slot busy answering: others refused in words, root still served ---
n=$("$PROBE" "$SOCK" bans 8000)
check "8000 bans by hand (dry run)" [ "$n" = 8000 ]
"$PROBE" "$SOCK" stall 64 6 > /dev/null &
STALL=$!
NS_PIDS="$NS_PIDS $STALL"
sleep 1
out=$(setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$BIN/dosipsctl" -s "$SOCK" status 2>&1); st=$?
check "a refused client is told the daemon is busy ($out)" \
	[ $st -eq 1 -a "$out" = "dosipsctl: dosips is busy with other clients, try again" ]
out=$(ctl status 2>&1); st=$?
check "root still gets an answer (reserved slot)" [ $st -eq 0 ]
kill $STALL 2>/dev/null
wait $STALL 2>/dev/null

# ---- soak: many at once, with idle clients about -----------------------------
"$PROBE" "$SOCK" idle 64 8 > /dev/null &
NS_PIDS="$NS_PIDS $!"
sleep 1.5
for round in 1 2 3; do
	for i in $(seq 1 40); do
		( ctl status > /dev/null 2> "$T/soak.$round.$i.err"; echo $? > "$T/soak.$round.$i.st" ) &
	done
	wait_for sh -c "[ \$(ls $T | grep -c '^soak\.$round\..*\.st$') -eq 40 ]"
done
total=0 good=0 silent=0 busy=0 sig=0
for f in "$T"/soak.*.st; do
	total=$((total + 1))
	s=$(cat "$f"); e=${f%.st}.err
	if [ "$s" = 0 ]; then good=$((good + 1))
	elif [ "$s" -gt 128 ]; then sig=$((sig + 1))
	elif grep -q busy "$e"; then busy=$((busy + 1))
	elif [ ! -s "$e" ]; then silent=$((silent + 1))
	fi
done
echo "     soak: $total calls, $good ok, $busy busy, $sig killed by a signal, $silent silent"
check "soak: 120 calls made" [ $total -eq 120 ]
check "soak: none died of a signal" [ $sig -eq 0 ]
check "soak: no failure without words" [ $silent -eq 0 ]
check "soak: every call answered ok or busy" [ $((good + busy)) -eq $total ]

kill -TERM $DPID
wait $DPID; st=$?
DPID=""
check "clean exit" [ $st -eq 0 ]
ns_done "$T/log"
