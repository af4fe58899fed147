#!/bin/sh
# history.sh - the history of a live dosips: a real SYN flood's alert and
# ban found by `dosipsctl history` filters, changes made with dosipsctl
# audited (who, role, what), acknowledgement (root only), a group member
# reading, an answer of 50000 rows streamed whole, all after the drop to
# user nobody; then kill -9 in the middle of a flood from many sources:
# SQLite's integrity check passes and the stored rows are the events
# file's up to the last batch. Two namespaces of our own joined by a veth
# pair, addresses in 198.18.0.0/15 only, real nftables in the victim.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft hping3 setpriv sqlite3; do
	command -v $t >/dev/null || { echo "skipped: $t not installed (sh scripts/deps.sh)"; exit 77; }
done
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DOSIPS_BUILD:-$TOP/build/release}
[ -x "$BIN/dosips" ] && [ -x "$BIN/dosipsctl" ] || { echo "build first: make"; exit 1; }

V=doshist-v-$$
A=doshist-a-$$
T=$(mktemp -d /tmp/dosips-hlab.XXXXXX)
chmod 755 "$T"
SOCK=$T/ctl.sock
DB=$T/history.db
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
as_nobody() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$@"; }
wait_for() { i=0; while ! "$@"; do i=$((i + 1)); [ $i -gt 200 ] && return 1; sleep 0.05; done; }
has_line() { printf '%s\n' "$1" | grep -q -- "$2"; }
count() { sqlite3 "$DB" "SELECT count(*) FROM events WHERE $1"; }
events_have() { grep -q "$1" "$T/events.json" 2>/dev/null; }

ip netns add "$V" && ip netns add "$A" || exit 1
ip link add v0 netns "$V" type veth peer name a0 netns "$A"
ip -n "$V" addr add 198.18.0.1/16 dev v0
ip -n "$A" addr add 198.18.0.2/16 dev a0
for ns in "$V" "$A"; do ip -n "$ns" link set lo up; done
ip -n "$V" link set v0 up
ip -n "$A" link set a0 up

cat > "$T/dosips.conf" <<EOF
control_socket = $SOCK
control_group = $NOGROUP
user = nobody
events = $T/events.json
history = $DB
whitelist = /dev/null
log_interval = 0
ban = 60
[syn_flood]
threshold = 50
EOF

start() {
	ip netns exec "$V" "$BIN/dosips" -i v0 -c "$T/dosips.conf" >"$T/log" 2>&1 &
	DPID=$!
	pids="$pids $DPID"
	wait_for [ -S "$SOCK" ] || { cat "$T/log"; bad "control socket appears"; exit 1; }
}
start
check "running as nobody with the history open" \
	[ "$(ps -o user= -p "$DPID" | tr -d ' ')" = nobody ]

# ---- a real flood, found by the filters -------------------------------------
ip netns exec "$A" timeout 20 hping3 -q -S -p 80 -i u500 -c 400 198.18.0.1 >/dev/null 2>&1 &
pids="$pids $!"
check "the flood is banned" wait_for events_have '"event":"ban","src":"198.18.0.2"'
out=$(ctl history --kind syn_flood --src 198.18.0.2)
check "history --kind --src lists the alert" has_line "$out" \
	'^[0-9]* *20[0-9-]*T[0-9:]*Z alert *syn_flood *198.18.0.2 '
check "and the ban" has_line "$out" ' ban *syn_flood *198.18.0.2 '
check "not the header alone for another source" \
	[ "$(ctl history --src 198.18.9.9 | wc -l)" -eq 1 ]
out=$(ctl history --since 1m --event alert --json)
check "history --json is the events file's line with an id" has_line "$out" \
	'^{"id":[0-9]*,"ts":"[^"]*","event":"alert","src":"198.18.0.2","kind":"syn_flood"'
alert=$(printf '%s\n' "$out" | sed -n '1s/^{"id":\([0-9]*\),.*/\1/p')
check "history --until before the flood is empty" \
	[ "$(ctl history --until 2000-01-01 --csv | wc -l)" -eq 1 ]

# ---- changes, audited; acknowledgement ---------------------------------------
check "unban" [ "$(ctl unban 198.18.0.2)" = "unbanned 198.18.0.2" ]
check "ban by hand" [ "$(ctl ban 198.18.0.99 2m)" = "banned 198.18.0.99 for 2m0s" ]
check "ack the alert with a note" \
	[ "$(ctl ack "$alert" seen, lab test "$$")" = "acknowledged $alert" ]
out=$(ctl ack 1 2>&1); st=$?
check "ack without a note is a usage error" [ $st -eq 1 ]
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" ack "$alert" mine 2>&1); st=$?
check "a group member may not ack" \
	[ $st -eq 1 -a "$out" = "dosipsctl: permission denied: ack needs root" ]
out=$(as_nobody "$BIN/dosipsctl" -s "$SOCK" history --event control)
check "a group member may read the history" [ $? -eq 0 ]
check "unban audited: by root (admin)" has_line "$out" ' control *unban *- *by root (admin): 198.18.0.2$'
check "ban audited" has_line "$out" ' control *ban *- *by root (admin): 198.18.0.99 2m$'
check "ack audited" has_line "$out" " control *ack *- *by root (admin): $alert seen, lab test $$\$"
check "the refused ack is not" [ "$(printf '%s\n' "$out" | grep -c ' ack ')" -eq 1 ]
check "changes are on the bus: in the events file" \
	events_have '"event":"control","who":"root","role":"admin","action":"unban","detail":"198.18.0.2"}'
check "and in the log" grep -q 'control: root (admin): ban 198.18.0.99 2m$' "$T/log"
check "the database agrees (sqlite3)" [ "$(count "event = 'control'")" -eq 3 ]
check "the ack is stored" [ "$(count "id = $alert AND ack_by = 'root' AND ack_note = 'seen, lab test $$'")" -eq 1 ]
out=$(ctl history --event alert --json | grep "\"id\":$alert,")
check "history --json shows the ack" has_line "$out" ',"ack":{"by":"root","note":"seen, lab test '"$$"'","ts":"'

# ---- a long answer streams whole ----------------------------------------------
sqlite3 "$DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
	INSERT INTO events(ts_us, event, kind, src, json)
	SELECT 1000000 * i, 'ban', 'bulk', '198.19.0.1', '{\"bulk\":' || i || '}' FROM n"
total=$(count 1)
got=$(ctl history --csv | wc -l)
check "history --csv streams all $total rows" [ "$got" -eq $((total + 1)) ]
got=$(ctl history --kind bulk --limit 3 --json | sed 's/.*"bulk":\([0-9]*\)}/\1/' | tr '\n' ' ')
check "--limit 3 gives the newest three, oldest first" [ "$got" = "49998 49999 50000 " ]
check "status still answers" ctl status >/dev/null

# ---- kill -9 in the middle of floods from many sources -------------------------
ctl unban 198.18.0.99 >/dev/null
before=$(wc -l <"$T/events.json")
# hping3 lingers a second after its last packet: many at once, staggered.
(for n in $(seq 10 130); do
	ip netns exec "$A" timeout 5 hping3 -q -S -p 80 -a 198.18.1.$n -i u200 -c 60 \
		198.18.0.1 >/dev/null 2>&1 &
	sleep 0.05
done; wait) &
gen=$!
pids="$pids $gen"
enough() { [ "$(grep -c '"event":"ban","src":"198.18.1.' "$T/events.json")" -ge 20 ]; }
check "twenty of the sources banned" wait_for enough
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
kill "$gen" 2>/dev/null
check "integrity_check after kill -9" [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ]
# Rows of the events file, in order, against the rows the daemon stored
# (not the bulk rows written by sqlite3 above).
sqlite3 "$DB" "SELECT json FROM events WHERE kind != 'bulk' AND event != 'control' ORDER BY id" >"$T/rows"
grep -v '"event":"control"' "$T/events.json" >"$T/lines"
n=$(wc -l <"$T/rows") m=$(wc -l <"$T/lines")
head -n "$n" "$T/lines" >"$T/head"
if [ "$n" -gt "$before" ] && cmp -s "$T/rows" "$T/head"; then
	ok "$n of $m events stored in order; lost with the last batch: $((m - n))"
else
	bad "the stored rows ($n) are not the first of the $m events"
	diff "$T/head" "$T/rows" | head -n 4
fi
check "at most a few events lost (one loop iteration's)" [ $((m - n)) -le 10 ]
exit $T_FAILED
