#!/bin/sh
# history.sh - the SQLite history holds exactly the events of the JSON-lines
# file of the same replay: counts per event and kind equal, and the stored
# JSON, in id order, equals the file line for line (read back with the
# sqlite3 program, not with dosips). Then a database locked by another
# process: the replay's events and bans are unchanged, dosips says why it
# cannot write, once, and exits 0.
set -u
BIN=$TOP/build/release
command -v sqlite3 >/dev/null || { echo "skipped: sqlite3 not installed (sh scripts/deps.sh)"; exit 77; }
T=$(mktemp -d /tmp/dosips-history.XXXXXX)
holder=""
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$TOP/tests/common.sh"

# counts of "event kind" ("-" for none) in an events file, and in a database
file_counts() {
	sed -e 's/.*"event":"\([a-z_]*\)".*"kind":"\([a-z_]*\)".*/\1 \2/' \
	    -e 's/.*"event":"\([a-z_]*\)".*/\1 -/' "$1" | sort | uniq -c | sort -k2
}
db_counts() {
	sqlite3 "$1" "SELECT count(*), event, CASE kind WHEN '' THEN '-' ELSE kind END
		      FROM events GROUP BY 2, 3" |
		awk -F'|' '{ printf "%7d %s %s\n", $1, $2, $3 }' | sort -k2
}

# replay NAME CAPTURE CONFIG: one replay into a fresh file and database
replay() {
	rm -f "$T/$1".*
	"$BIN/dosips" -c "$3" -r "$2" --dry-run --events "$T/$1.json" \
		--history "$T/$1.db" >"$T/$1.log" 2>&1
}

check() { # NAME CAPTURE CONFIG
	if ! replay "$@"; then
		bad "$1: dosips exited non-zero"; tail -n 5 "$T/$1.log"; return
	fi
	n=$(wc -l <"$T/$1.json")
	file_counts "$T/$1.json" >"$T/$1.want"
	db_counts "$T/$1.db" >"$T/$1.got"
	if ! cmp -s "$T/$1.want" "$T/$1.got"; then
		bad "$1: counts per event and kind differ (events file, history):"
		diff "$T/$1.want" "$T/$1.got" | head -n 10
		return
	fi
	sqlite3 "$T/$1.db" "SELECT json FROM events ORDER BY id" >"$T/$1.rows"
	if ! cmp -s "$T/$1.json" "$T/$1.rows"; then
		bad "$1: stored JSON differs from the events file"
		diff "$T/$1.json" "$T/$1.rows" | head -n 6
		return
	fi
	ok "$1: $n events, $(wc -l <"$T/$1.want") kinds, the same in the history"
}

printf 'whitelist = /dev/null\nlog_interval = 0\n' >"$T/none.conf"
for f in "$TOP"/tests/captures/*.pcap; do
	check "$(basename "$f" .pcap)" "$f" "$T/none.conf"
done

# Synthetic: five attackers again and again (a short cooldown); a SYN
# threshold of 1 that makes an alert of every spoofed source, reported as
# whitelisted (tens of thousands of events, so that batches are large);
# and a cap of 100 bans that the same traffic reaches.
"$BIN/tools/mkpcap" -o "$T/mixed.pcap" -s mixed -n 100000 >/dev/null 2>&1 || exit 1
"$BIN/tools/mkpcap" -o "$T/small.pcap" -s mixed -n 20000 >/dev/null 2>&1 || exit 1
printf 'log_interval = 0\ncooldown = 10ms\nwhitelist = /dev/null\n' >"$T/again.conf"
check mixed-again "$T/mixed.pcap" "$T/again.conf"
printf '198.18.0.0/15\n2001:db8::/32\n' >"$T/everyone"
printf 'log_interval = 0\ncooldown = 10ms\nwhitelist = %s\n[syn_flood]\nthreshold = 1\n' "$T/everyone" >"$T/many.conf"
check mixed-many "$T/mixed.pcap" "$T/many.conf"
printf 'log_interval = 0\ncooldown = 10ms\nwhitelist = /dev/null\nmax_bans = 100\n[syn_flood]\nthreshold = 1\n' >"$T/cap.conf"
check mixed-cap "$T/small.pcap" "$T/cap.conf"
[ "$(grep -c '"event":"ban_cap"' "$T/mixed-cap.json")" -ge 1 ] ||
	bad "mixed-cap: expected the ban cap to be reached"

# With the log limiter on (its default), the events file holds back lines
# of a flood of sources; the history still keeps every event.
sed '/^log_interval/d' "$T/many.conf" >"$T/limiter.conf"
replay limited "$T/mixed.pcap" "$T/limiter.conf" || bad "limited: dosips exited non-zero"
all=$(wc -l <"$T/mixed-many.json")
kept=$(sqlite3 "$T/limited.db" "SELECT count(*) FROM events")
lines=$(grep -vc '"event":"suppressed"' "$T/limited.json")
if [ "$kept" -eq "$all" ] && [ "$lines" -lt "$all" ] && grep -q '"event":"suppressed"' "$T/limited.json"; then
	ok "limited: the events file held back $((all - lines)) lines, the history kept all $all"
else
	bad "limited: history $kept, events file $lines lines, of $all events"
fi

# Locked: another process holds an exclusive transaction for the whole
# replay. The events file (and so every ban) is what it was without the
# lock; the history gets nothing; the log says why, once.
cp "$T/mixed-again.db" "$T/locked.db"
sqlite3 "$T/locked.db" "DELETE FROM events"
mkfifo "$T/lock.fifo"
sqlite3 "$T/locked.db" <"$T/lock.fifo" >/dev/null 2>&1 &
holder=$!
exec 3>"$T/lock.fifo"
# The holder waits for the lock (.timeout): without it a probe below that
# holds the lock for a moment makes its BEGIN fail, and nothing is held.
printf '%s\n' ".timeout 5000" \
	"BEGIN EXCLUSIVE; INSERT INTO events(ts_us, event, json) VALUES (0, 'x', '{}');" >&3
i=0
while sqlite3 "$T/locked.db" "BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && { bad "locked: could not take the lock"; exit 1; }
	sleep 0.05
done
cp "$T/mixed-again.json" "$T/unlocked.json"
if ! "$BIN/dosips" -c "$T/again.conf" -r "$T/mixed.pcap" --dry-run \
	--events "$T/locked.json" --history "$T/locked.db" >"$T/locked.log" 2>&1; then
	bad "locked: dosips exited non-zero"; tail -n 5 "$T/locked.log"
fi
echo "ROLLBACK;" >&3
exec 3>&-
wait "$holder"
holder=""
if cmp -s "$T/unlocked.json" "$T/locked.json"; then
	ok "locked: the same $(grep -c '"event":"ban"' "$T/locked.json") bans and every event"
else
	bad "locked: events differ from the replay without a lock"
fi
n=$(grep -c 'history: cannot write .*locked by another process; bans go on' "$T/locked.log")
if [ "$n" -eq 1 ]; then
	ok "locked: reported once: $(grep -m1 'history: cannot write' "$T/locked.log")"
else
	bad "locked: $n reports of the lock, expected 1"; cat "$T/locked.log"
fi
[ "$(sqlite3 "$T/locked.db" 'SELECT count(*) FROM events')" -eq 0 ] ||
	bad "locked: rows were written through an exclusive lock"
exit $T_FAILED
