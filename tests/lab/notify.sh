#!/bin/sh
# notify.sh - notifiers against real servers. A victim namespace runs
# dosips; a second namespace runs tests/lab/notify_sink.py: a Python HTTP
# server that records each post and checks it against the shape its chat
# service documents, and an aiosmtpd SMTP server that msmtp (Debian's, as
# the `sendmail`) delivers to. Then: 1,000 bans in 10 s with rate =
# 5 give at most 5 messages plus digests whose counts add up to 1,000; a
# 429-then-200 endpoint gets the message once, a 400 one is not retried;
# an endpoint that never answers delays no ban (ban times measured with
# and without it). Addresses in 198.18.0.0/15 only; everything is torn
# down on any exit.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft hping3 msmtp curl /usr/bin/python3; do
	command -v $t >/dev/null || { echo "skipped: $t not installed (sh scripts/deps.sh)"; exit 77; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "skipped: python3-aiosmtpd not installed (sh scripts/deps.sh)"; exit 77; }
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DOSIPS_BUILD:-$TOP/build/release}   # DOSIPS_BUILD=build/asan for sanitizers
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
[ -x "$BIN/dosips" ] && [ -x "$BIN/dosipsctl" ] || { echo "build first: make"; exit 1; }
SINK="/usr/bin/python3 $TOP/tests/lab/notify_sink.py"

V=dosnot-v-$$
S=dosnot-s-$$
T=$(mktemp -d /tmp/dosips-notify.XXXXXX)
SOCK=$T/ctl.sock
URL=http://198.18.0.2:8080
pids=""
DPID=""

cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	ip netns del "$V" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	if [ -n "${LAB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$TOP/tests/common.sh"
ctl() { "$BIN/dosipsctl" -s "$SOCK" "$@"; }
in_v() { ip netns exec "$V" "$@"; }
# waits up to $2 s (default 10) for a condition (a shell command string)
wait_for() { sh -c "i=0; while ! { $1; }; do i=\$((i + 1)); [ \$i -gt $((${2:-10} * 20)) ] && exit 1; sleep 0.05; done"; }
lines() { [ -e "$1" ] && wc -l < "$1" || echo 0; }
now() { date +%s.%N; }

ip netns add "$V" && ip netns add "$S" || exit 1
ip link add v0 netns "$V" type veth peer name s0 netns "$S"
ip -n "$V" addr add 198.18.0.1/24 dev v0
ip -n "$S" addr add 198.18.0.2/24 dev s0
ip -n "$S" addr add 198.18.0.3/24 dev s0
ip -n "$S" addr add 198.18.0.4/24 dev s0
for ns in "$V" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$V" link set v0 up
ip -n "$S" link set s0 up

ip netns exec "$S" $SINK "$T" 198.18.0.2 8080 2525 > "$T/sink.log" 2>&1 &
pids="$pids $!"
wait_for "ip netns exec $V curl -s -m 1 -d '{}' $URL/ok/probe >/dev/null" ||
	{ cat "$T/sink.log"; echo "FAIL the sink does not answer"; exit 1; }

for n in slack discord mattermost teams webhook; do echo "$URL/ok/$n" > "$T/$n.url"; done
for n in flood flaky busy gone hang; do echo "$URL/$n/$n" > "$T/$n.url"; done
sed -i "s|/flood/flood|/ok/flood|" "$T/flood.url"
cat > "$T/msmtprc" <<EOF
account default
host 198.18.0.2
port 2525
from dosips@lab.test
auth off
tls off
syslog off
logfile $T/msmtp.log
EOF
chmod 600 "$T/msmtprc"
# The sendmail: Debian's msmtp, behind a wrapper noting its capabilities.
cat > "$T/sendmail" <<EOF
#!/bin/sh
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status >> "$T/sendmail.caps"
exec /usr/bin/msmtp -C "$T/msmtprc" "\$@"
EOF
chmod 755 "$T/sendmail"

conf_head() {
	printf '%s\n' "control_socket = $SOCK" "events = $T/events.json" "hook_timeout = 10s" \
		"[syn_flood]" "threshold = 50"
}
notifier() { # NAME TYPE [KEY=VALUE...]
	n=$1; t=$2; shift 2
	printf '[notify %s]\ntype = %s\n' "$n" "$t"
	[ "$t" = mail ] || printf 'url_file = %s/%s.url\n' "$T" "$n"
	for kv in "$@"; do printf '%s\n' "$kv" | sed 's/=/ = /'; done
}
start() {
	ip netns exec "$V" "$BIN/dosips" -i v0 -c "$T/dosips.conf" >> "$T/log" 2>&1 &
	DPID=$!
	pids="$pids $DPID"
	wait_for "[ -S $SOCK ]" || { cat "$T/log"; echo "FAIL daemon does not start"; exit 1; }
}
stop() {
	kill -TERM "$DPID"
	wait "$DPID"
	_st=$?
	[ $_st -eq 0 ] || { echo "---- dosips log (exit $_st)"; tail -n 20 "$T/log"; }
	return $_st
}

# ---- each service's payload, mail through msmtp, notify test ---------------
{
	conf_head
	for n in slack discord mattermost teams webhook; do notifier $n $n "events=ban,unban"; done
	notifier mail mail "to=ops@lab.test" "from=dosips@lab.test" "sendmail=$T/sendmail"
} > "$T/dosips.conf"
out=$("$BIN/dosips" -c "$T/dosips.conf" -n 2>&1)
check "dosips -n accepts the notifiers" [ "$out" = "configuration OK" ]
start
check "ban by hand" [ "$(ctl ban 198.19.0.7 60)" = "banned 198.19.0.7 for 1m0s" ]
check "unban by hand" [ "$(ctl unban 198.19.0.7)" = "unbanned 198.19.0.7" ]
for n in slack discord mattermost teams webhook; do
	if wait_for "[ \$(wc -l < $T/$n.posts 2>/dev/null || echo 0) -ge 2 ]"; then
		out=$($SINK --check $n "$T/$n.posts")
		check "$n: ban and unban posted in its documented shape" [ "$out" = 2 ]
		check "$n: names the address" grep -q '198\.19\.0\.7' "$T/$n.posts"
	else
		bad "$n: ban and unban posted (got $(lines "$T/$n.posts"))"
	fi
done
check "webhook: the event's own JSON line" \
	grep -q '^{"ts": "[^"]*", "event": "ban", "src": "198.19.0.7", "kind": "manual", "duration_s": 60' \
	"$T/webhook.posts"
check "mail: msmtp delivered it to the SMTP server" wait_for "[ -e $T/mail.1 ]"
check "mail: envelope and To" grep -q '^X-Envelope-To: ops@lab.test$' "$T/mail.1"
check "mail: Subject" grep -q '^Subject: \[dosips [^]]*\] banned 198.19.0.7 (manual)$' "$T/mail.1"
d=$(sed -n 's/^Date: //p' "$T/mail.1")
check "mail: Date ($d) is this minute" \
	[ $(( $(date +%s) - $(date -d "$d" +%s 2>/dev/null || echo 0) )) -lt 60 ]
check "mail: Message-ID" grep -q '^Message-ID: <dosips\.[0-9.]*@[^>]*>$' "$T/mail.1"
check "mail: sendmail ran without capabilities, with no_new_privs" \
	[ "$(sort -u "$T/sendmail.caps" | tr '\n\t' '  ')" = "CapEff: 0000000000000000 NoNewPrivs: 1 " ]

out=$(ctl notify test discord); st=$?
check "notify test discord: the endpoint's answer: $out" [ $st -eq 0 ]
check "  is its status and body" sh -c "printf '%s' '$out' | grep -q '^HTTP 200 in [0-9.]*s: ok$'"
check "  and the test message arrived" grep -q 'test message from notifier discord' "$T/discord.posts"
out=$(ctl notify test mail); st=$?
check "notify test mail: $out" [ $st -eq 0 -a "$out" = "sendmail exited with status 0" ]
check "  and the mail arrived" wait_for "grep -qs 'test message from notifier mail' $T/mail.2"
out=$(ctl notify test nosuch 2>&1); st=$?
check "notify test of an unknown notifier fails" \
	[ $st -eq 1 -a "$out" = "dosipsctl: no notifier nosuch (a [notify nosuch] section)" ]
stop

# ---- 1,000 bans in ~10 s with rate = 5; 429 then 200; 400 --------------------
{
	conf_head
	notifier flood webhook "rate=5" "digest=3s"
	notifier flaky webhook "events=unban"
	notifier busy webhook "events=unban"
	notifier gone webhook "events=unban"
} > "$T/dosips.conf"
start
t0=$(now)
set -- $($SINK --bans "$SOCK" 1000 0 10 8) || bad "1000 bans through the control socket"
check "1000 bans made in $1 s" [ "$(ctl status | sed -n 's/^bans: \([0-9]*\) active.*/\1/p')" = 1000 ]
total() { # events delivered to flood: single bans plus digest counts
	/usr/bin/python3 -c 'import json,sys
print(sum(json.loads(l).get("count", 1) for l in open(sys.argv[1])))' "$T/flood.posts" \
		2>/dev/null || echo 0
}
i=0
while [ "$(total)" -lt 1000 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
t2=$(now)
singles=$(grep -c '"event": "ban"' "$T/flood.posts")
digests=$(grep -c '"event": "digest"' "$T/flood.posts")
check "at most 5 single messages ($singles)" [ "$singles" -le 5 ]
check "digests ($digests) whose counts add up to 1000 with them ($(total))" [ "$(total)" = 1000 ]
max=$(awk "BEGIN { printf \"%d\", 5 + ($t2 - $t0) / 3 + 2 }")
check "no more than rate + one digest per interval: $((singles + digests)) <= $max" \
	[ $((singles + digests)) -le "$max" ]
check "every flood post is a valid webhook body" \
	[ "$($SINK --check webhook "$T/flood.posts")" = $((singles + digests)) ]
grep '"event": "digest"' "$T/flood.posts" | head -n 1 | sed 's/.*"text": "\([^"]*\)".*/     e.g. \1/'
ctl unban 198.19.0.1 >/dev/null
check "429 then 200: delivered" wait_for "[ -s $T/flaky.posts ]" 15
sleep 3
check "  exactly once" [ "$(lines "$T/flaky.posts")" = 1 ]
a429=$(awk '$2 == "flaky" && $3 == 429 { print $1 }' "$T/attempts")
a200=$(awk '$2 == "flaky" && $3 == 200 { print $1 }' "$T/attempts")
check "  after Retry-After: 2 ($a429 -> $a200)" awk "BEGIN { exit !($a200 - $a429 >= 1.9) }"
check "503 then 200: delivered once" wait_for "[ \$(wc -l < $T/busy.posts) = 1 ]"
a503=$(awk '$2 == "busy" && $3 == 503 { print $1 }' "$T/attempts")
a200=$(awk '$2 == "busy" && $3 == 200 { print $1 }' "$T/attempts")
check "  after a backoff of 1 s ($a503 -> $a200)" awk "BEGIN { exit !($a200 - $a503 >= 0.9) }"
check "400: tried once, not again" [ "$(awk '$2 == "gone"' "$T/attempts" | wc -l)" = 1 ]
check "  and the log says what was lost" \
	grep -q 'notify gone: message of 1 event not delivered after 1 attempt: HTTP 400' "$T/log"
out=$(ctl stats)
check "stats: 1000 + 2 events delivered, 995 folded, 2 retries, 1 event lost" \
	[ "$(printf '%s\n' "$out" | grep -E '^notify_(events|folded|retries|failed_events)=' |
	     tr '\n' ' ')" = "notify_events=1002 notify_folded=995 notify_retries=2 notify_failed_events=1 " ]
stop

# ---- an endpoint that never answers delays no ban ----------------------------
conf_head > "$T/dosips.conf"
start
# syn_flood FROM: a SYN flood from FROM; prints packet-to-kernel time (us)
syn_flood() {
	ip netns exec "$S" timeout 10 hping3 -q -S -p 80 -c 200 -i u2000 -a "$1" 198.18.0.1 \
		>/dev/null 2>&1
	wait_for "grep -q '\"event\":\"ban\",\"src\":\"$1\"' $T/events.json" &&
		ctl stats | sed -n 's/^packet_to_kernel_us.last=//p'
}
set -- $($SINK --bans "$SOCK" 200 10 4 1)
none_mean=$2 none_max=$3
none_flood=$(syn_flood 198.18.0.4)
{ conf_head; notifier hang webhook "events=ban,alert" "rate=60" "timeout=60s"; } > "$T/dosips.conf"
check "reload with a notifier whose endpoint hangs" [ "$(ctl reload)" = reloaded ]
set -- $($SINK --bans "$SOCK" 200 11 4 1)
hang_mean=$2 hang_max=$3
echo "     ban round trip without a notifier: mean ${none_mean}s max ${none_max}s;" \
	"with a hanging endpoint: mean ${hang_mean}s max ${hang_max}s"
check "the endpoint is hanging on a request" grep -q ' hang 0$' "$T/attempts"
hang_flood=$(syn_flood 198.18.0.3)
check "SYN flood: ${hang_flood:-never} us from crossing packet to kernel (${none_flood:-never} us without a notifier)" \
	[ "${hang_flood:-999999999}" -lt 500000 ]
check "ban times unchanged (mean within 2x + 20 ms, max < 2 s)" \
	awk "BEGIN { exit !($hang_mean < 2 * $none_mean + 0.02 && $hang_max < 2) }"
out=$(ctl status | grep -c '^version: ')
check "the control socket answers at once" [ "$out" = 1 ]
stop; st=$?
check "stops cleanly with a request in flight (status $st)" [ $st -eq 0 ]
check "  and says what it did not deliver" grep -q 'notify hang: stopping with [0-9]* events* not delivered' "$T/log"

[ $T_FAILED -eq 0 ] && echo "all notify checks passed"
exit $T_FAILED
