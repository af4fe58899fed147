# lib.sh - shared by the end-to-end lab tests (tests/lab/e2e_*.sh); the
# runner does not run it by itself.
#
# A test: t_init NAME; dosips_start; attack_run CMD...; checks; t_done.
# t_init builds a lab (scripts/lab.sh) whose victim runs dosips on its real
# interface with real nftables, records `nft monitor` in the victim with a
# wall-clock stamp per line, and tears everything down on any exit.
#
# Measuring an attack (attack_run): a tcpdump on the victim's interface sees
# every attack packet (the tap runs before the ingress hook, so it sees them
# after the ban too) and gives the first packet's time; the ban's arrival in
# the kernel is the `add element` of `nft monitor`; a counter in an observer
# table of our own (inet dlab, input hook: after dosips's ingress drop)
# counts the attacker's packets that got through, which dates the first
# dropped packet on the tap and counts leaks after the ban; /proc/net/snmp
# counters say what reached the sockets. All times are CLOCK_REALTIME.
#
# Environment: DOSIPS_BUILD (default build/release; build/asan works too),
# LAB_KEEP=1 keeps the scratch directory, BAN_BOUND_MS (1000) the ban-time
# bound asserted, FLOOD_INTERVAL (u40) and FLOOD_COUNT (15000) for hping3.

set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB_LIB=1 . "$TOP/scripts/lab.sh"
BIN=${DOSIPS_BUILD:-$TOP/build/release}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
DOSIPS=$BIN/dosips
BAN_BOUND_MS=${BAN_BOUND_MS:-1000}
FLOOD_INTERVAL=${FLOOD_INTERVAL:-u40}
FLOOD_COUNT=${FLOOD_COUNT:-15000}
DOSIPS_PID=""
. "$TOP/tests/common.sh"

# fail MSG: what went wrong, with the evidence a person needs, last.
fail() {
	t_evidence
	echo "FAIL $*"
	exit 1
}

t_evidence() {
	echo "---- dosips log (tail)"
	tail -n 15 "$LAB_DIR/dosips.log" 2>/dev/null
	echo "---- events"
	tail -n 8 "$LAB_DIR/events.json" 2>/dev/null
	echo "---- victim nftables"
	lab_exec "$LAB_VICTIM" nft list table inet dosips 2>&1 | grep -v '^\s*$' | head -n 30
}

# t_init NAME: skips (77) without root or tools, fails without a build.
t_init() {
	T_NAME=$1
	if [ "$(id -u)" -ne 0 ]; then
		echo "skipped: needs root (network namespaces, nftables)"
		exit 77
	fi
	for _t in ip nft tcpdump hping3 nmap nping nc bash awk; do
		command -v "$_t" >/dev/null 2>&1 ||
			{ echo "skipped: $_t is not installed (sh scripts/deps.sh)"; exit 77; }
	done
	[ -x "$DOSIPS" ] || { echo "FAIL no $DOSIPS: build first (make)"; exit 1; }
	lab_init
	lab_trap
	LAB_QUIET=1
	lab_up || fail "cannot build the lab"
	lab_services || fail "lab services do not answer"
	monitor_start
	echo "== $T_NAME (lab $LAB_PFX)"
}

# monitor_start: `nft monitor` in the victim, each line stamped on arrival
# (bash's $EPOCHREALTIME: no fork per line).
monitor_start() {
	mkfifo "$LAB_DIR/mon.fifo"
	bash -c 'while IFS= read -r l; do printf "%s %s\n" "$EPOCHREALTIME" "$l"; done' \
		<"$LAB_DIR/mon.fifo" >"$LAB_DIR/monitor.log" &
	LAB_PIDS="$LAB_PIDS $!"
	lab_bg "$LAB_VICTIM" nft monitor >"$LAB_DIR/mon.fifo" 2>/dev/null
	# Ready once it has seen a change of its own making.
	lab_wait 5 monitor_probe || fail "nft monitor does not report"
}

monitor_probe() {
	lab_exec "$LAB_VICTIM" nft add table inet dlabprobe
	lab_exec "$LAB_VICTIM" nft delete table inet dlabprobe
	grep -q 'dlabprobe' "$LAB_DIR/monitor.log"
}

# dosips_start [ARGS...]: dosips in the victim with a config of ours
# ($T_CONF lines added), whitelist $T_WHITELIST (lines), --ban $T_BAN.
dosips_start() {
	{
		echo "control_socket = $LAB_DIR/ctl.sock"
		echo "user ="    # root, even where the dosips account exists
		printf '%s\n' "${T_CONF:-}"
	} >"$LAB_DIR/dosips.conf"
	printf '%s\n' "${T_WHITELIST:-}" >"$LAB_DIR/whitelist"
	# Emptied here, not by the redirection below, which runs in the
	# background: a restart must not take the last run's "watching" line
	# for its own.
	: >"$LAB_DIR/dosips.log"
	lab_bg "$LAB_VICTIM" "$DOSIPS" -i "$LAB_IFACE" --ban "${T_BAN:-60}" \
		-c "$LAB_DIR/dosips.conf" -w "$LAB_DIR/whitelist" \
		--events "$LAB_DIR/events.json" "$@" >"$LAB_DIR/dosips.log" 2>&1 </dev/null
	DOSIPS_PID=$LAB_LAST_PID
	lab_wait 5 dosips_ready || fail "dosips did not start"
	ok "dosips (pid $DOSIPS_PID) watches $LAB_VICTIM:$LAB_IFACE, bans last ${T_BAN:-60}s"
}

dosips_ready() {
	kill -0 "$DOSIPS_PID" 2>/dev/null || fail "dosips exited at start"
	grep -q "watching $LAB_IFACE" "$LAB_DIR/dosips.log" &&
		lab_exec "$LAB_VICTIM" nft list table inet dosips >/dev/null 2>&1
}

# dosips_stop: SIGTERM; dosips must exit 0 and print its report.
dosips_stop() {
	dosips_alive || fail "dosips died during the test"
	kill -TERM "$DOSIPS_PID"
	_i=0
	while kill -0 "$DOSIPS_PID" 2>/dev/null && [ $_i -lt 100 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	if kill -0 "$DOSIPS_PID" 2>/dev/null; then
		kill -KILL "$DOSIPS_PID"
		fail "dosips did not stop within 5 s of SIGTERM"
	fi
	wait "$DOSIPS_PID"
	_st=$?
	lab_forget "$DOSIPS_PID"
	[ "$_st" -eq 0 ] || fail "dosips exited with status $_st on SIGTERM"
	grep -q 'report: alerts' "$LAB_DIR/dosips.log" || fail "dosips printed no report"
	! grep -q 'Sanitizer\|runtime error' "$LAB_DIR/dosips.log" ||
		fail "dosips: a sanitizer report (see its log above)"
	ok "dosips stopped cleanly; its report:"
	grep 'report:' "$LAB_DIR/dosips.log" | tail -n 6 | sed 's/^/     /'
	DOSIPS_PID=""
}

dosips_alive() {
	[ -n "$DOSIPS_PID" ] && kill -0 "$DOSIPS_PID" 2>/dev/null
}

# t_done: the verdict of the whole test.
t_done() {
	if [ "$T_FAILED" -ne 0 ]; then
		t_evidence
		echo "FAIL $T_NAME"
		exit 1
	fi
	echo "PASS $T_NAME"
	exit 0
}

# ---- events (JSON lines, compact: "key":"value")

# ev_lines EVENT [SRC]: the event lines of that type (and source).
ev_lines() {
	if [ -n "${2:-}" ]; then
		grep -F "\"event\":\"$1\"" "$LAB_DIR/events.json" 2>/dev/null |
			grep -F "\"src\":\"$2\""
	else
		grep -F "\"event\":\"$1\"" "$LAB_DIR/events.json" 2>/dev/null
	fi
}

ev_count() { ev_lines "$@" | wc -l; }

# report_field KEY: KEY's value in dosips's last report (see dosipsctl stats
# for the names).
report_field() {
	grep 'report:' "$LAB_DIR/dosips.log" | grep -o " $1=[0-9]*" | tail -n 1 | cut -d= -f2
}

# ev_field KEY: the value of KEY in the line on stdin.
ev_field() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# ts_epoch RFC3339: seconds since the epoch with microseconds.
ts_epoch() {
	[ -n "$1" ] && date -u -d "$1" +%s.%6N
}

# ---- nftables in the victim

# ban_has SET ELEM: the ban set holds exactly ELEM ("198.18.0.3",
# "2001:db8:0:2::/64").
ban_has() {
	lab_exec "$LAB_VICTIM" nft list set inet dosips "$1" 2>/dev/null |
		tr '{},' '\n\n\n' | awk -v e="$2" '$1 == e { f = 1 } END { exit !f }'
}

# ban_count SET: elements in the ban set.
ban_count() {
	lab_exec "$LAB_VICTIM" nft list set inet dosips "$1" 2>/dev/null |
		tr '{},' '\n\n\n' | grep -c ' timeout '
}

# drop_counter SET: packets counted by dosips's drop rule for SET.
drop_counter() {
	lab_exec "$LAB_VICTIM" nft list table inet dosips 2>/dev/null |
		awk -v s="@$1" '$0 ~ s && / drop/ {
			for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) }
			END { print n + 0 }'
}

# ---- counters of the victim's stack

# snmp_sample PROTO: "tcp" Tcp InSegs, "udp" Udp datagrams that reached the
# UDP layer (delivered, no port, errors), "icmp" Icmp InEchos, "tcp6",
# "udp6", "icmp6" the same for IPv6. What reached the sockets.
snmp_sample() {
	case $1 in
	tcp) lab_snmp "$LAB_VICTIM" Tcp InSegs ;;
	udp) echo $(( $(lab_snmp "$LAB_VICTIM" Udp InDatagrams) + \
		$(lab_snmp "$LAB_VICTIM" Udp NoPorts) + $(lab_snmp "$LAB_VICTIM" Udp InErrors) )) ;;
	icmp) lab_snmp "$LAB_VICTIM" Icmp InEchos ;;
	tcp6) lab_snmp "$LAB_VICTIM" Tcp InSegs ;;
	udp6) echo $(( $(lab_snmp "$LAB_VICTIM" "" Udp6InDatagrams) + \
		$(lab_snmp "$LAB_VICTIM" "" Udp6NoPorts) + $(lab_snmp "$LAB_VICTIM" "" Udp6InErrors) )) ;;
	icmp6) lab_snmp "$LAB_VICTIM" "" Icmp6InEchos ;;
	esac
}

# ---- one measured attack

# observer_start SRCNET: a pcap of SRCNET's packets at the tap, and a
# counter of those that pass dosips's ingress chain (table inet dlab, hook
# input: after ingress, before the sockets).
observer_start() {
	_net=$1
	case $_net in *:*) _fam=ip6 ;; *) _fam=ip ;; esac
	lab_exec "$LAB_VICTIM" nft -f - <<-EOF || fail "cannot add the observer table"
	table inet dlab {
		chain input {
			type filter hook input priority 0; policy accept;
			$_fam saddr $_net counter
		}
	}
	EOF
	rm -f "$LAB_DIR/tap.pcap" "$LAB_DIR/tap.err"
	lab_bg "$LAB_VICTIM" tcpdump -i "$LAB_IFACE" -n -s 96 -B 16384 -U --immediate-mode \
		-w "$LAB_DIR/tap.pcap" "$_fam and src net $_net" 2>"$LAB_DIR/tap.err"
	OBS_TAP=$LAB_LAST_PID
	lab_wait 5 grep -q listening "$LAB_DIR/tap.err" || fail "tcpdump on the tap did not start"
}

# observer_stop: sets A_PASSED and removes the observer.
observer_stop() {
	sleep 0.1
	kill -INT "$OBS_TAP" 2>/dev/null
	wait "$OBS_TAP" 2>/dev/null
	lab_forget "$OBS_TAP"
	A_PASSED=$(lab_exec "$LAB_VICTIM" nft list chain inet dlab input | awk '
		/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
	lab_exec "$LAB_VICTIM" nft delete table inet dlab
	OBS_LOST=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$LAB_DIR/tap.err")
	OBS_LOST=${OBS_LOST:-0}
	[ "$OBS_LOST" -eq 0 ] ||
		note "(tcpdump lost $OBS_LOST packets: the per-packet figures below are rough)"
}

# pcap_times FILE: one timestamp per packet.
pcap_times() {
	tcpdump -r "$1" -n -tt -q 2>/dev/null | awk '{ print $1 }'
}

# attack_run CMD...: runs the bounded generator CMD in the attacker while
# observing packets from $A_SRC (an address or a prefix: "198.18.0.3",
# "2001:db8:0:2::/64"), waiting for a ban of $A_ELEM in set $A_SET unless
# A_ELEM is empty. $A_PROTO names the snmp counters. Leaves (seconds since
# the epoch, or counts): A_T0 first packet; A_TBAN the ban's `add element`
# seen by nft monitor (empty without a ban); A_TDROP the first attack packet
# dropped; A_SENT packets at the tap; A_RATE their rate (pps); A_PASSED
# those that got past the ingress drop; A_LEAKED those of them later than
# A_TBAN; A_SOCK what reached the stack's counters after A_TBAN; A_DROPPED
# dosips's drop counter (this attack's share).
attack_run() {
	observer_start "$A_SRC"
	_d0=$(drop_counter "$A_SET")
	_s0=$(snmp_sample "$A_PROTO")
	_m0=$(wc -l <"$LAB_DIR/monitor.log")
	lab_bg "$LAB_ATTACKER" "$@" >"$LAB_DIR/gen.out" 2>&1 </dev/null
	_gen=$LAB_LAST_PID
	A_TBAN="" _s1="" _end=""
	while :; do
		if [ -n "$A_ELEM" ] && [ -z "$A_TBAN" ]; then
			A_TBAN=$(monitor_ban_time "$_m0" "$A_SET" "$A_ELEM")
			[ -n "$A_TBAN" ] && _s1=$(snmp_sample "$A_PROTO") && _after=0
		fi
		# A_LINGER: end a slow generator (a scan) that long after the ban.
		if [ -n "${A_LINGER:-}" ] && [ -n "$A_TBAN" ] && [ -z "$_end" ]; then
			_after=$((_after + 1))
			[ "$_after" -lt $(( A_LINGER * 25 )) ] || lab_kill "$_gen"
		fi
		if [ -z "$_end" ] && ! kill -0 "$_gen" 2>/dev/null; then
			_end=$(date +%s)
		fi
		# Done when the generator ended and the ban came (or 2 s passed).
		[ -n "$_end" ] && { [ -n "$A_TBAN" ] || [ -z "$A_ELEM" ] ||
			[ $(( $(date +%s) - _end )) -ge 2 ]; } && break
		sleep 0.02
	done
	wait "$_gen" 2>/dev/null
	lab_forget "$_gen"
	_s2=$(snmp_sample "$A_PROTO")
	observer_stop
	A_DROPPED=$(( $(drop_counter "$A_SET") - _d0 ))
	attack_analyse "$_s0" "$_s1" "$_s2"
}

# monitor_ban_time FROM SET ELEM: stamp of the first `add element` of ELEM
# to SET after line FROM of the monitor log.
monitor_ban_time() {
	tail -n +"$(( $1 + 1 ))" "$LAB_DIR/monitor.log" | awk -v s="$2" -v e="$3" '
		$2 == "add" && $3 == "element" && $6 == s {
			line = $0; sub(/^[^{]*\{/, "", line); gsub(/[,}]/, " ", line)
			n = split(line, w, " ")
			for (i = 1; i <= n; i++) if (w[i] == e) { print $1; exit }
		}'
}

# The tap and the ingress handle packets one by one in arrival order, so
# when A_PASSED packets got through, the tap's packet A_PASSED + 1 is the
# first the ban dropped: its kernel timestamp bounds the ban's arrival.
attack_analyse() {
	pcap_times "$LAB_DIR/tap.pcap" >"$LAB_DIR/tap.ts"
	A_SENT=$(wc -l <"$LAB_DIR/tap.ts")
	[ "$A_SENT" -gt 0 ] || fail "no attack packet reached the victim's interface"
	A_T0=$(head -n 1 "$LAB_DIR/tap.ts")
	# The rate of the first 90%: stragglers (replies to retransmitted
	# SYN-ACKs, a second later) would make a short flood look slow.
	A_RATE=$(awk -v n="$A_SENT" 'NR == 1 { a = $1 } NR <= int(n * 0.9) { b = $1; k = NR }
		END { printf "%d", (b > a) ? (k - 1) / (b - a) : 0 }' "$LAB_DIR/tap.ts")
	A_TDROP=$(sed -n "$(( A_PASSED + 1 ))p" "$LAB_DIR/tap.ts")
	A_LEAKED=0 A_SOCK=""
	if [ -n "$A_TBAN" ]; then
		A_LEAKED=$(awk -v t="$A_TBAN" -v p="$A_PASSED" '$1 <= t { n++ }
			END { print (p > n) ? p - n : 0 }' "$LAB_DIR/tap.ts")
		A_SOCK=$(( $3 - $2 ))
	fi
	A_SOCK_ALL=$(( $3 - $1 ))
}

# ms A B: (B - A) in milliseconds, one decimal.
ms() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'
}

# attack_report KIND: prints what was measured for a ban of $A_ELEM for
# KIND, and asserts the ban, its kind, its timing and the drop.
attack_report() {
	_kind=$1
	note "sent: $A_SENT packets from $A_SRC seen on the victim's interface at $A_RATE pps"
	[ -z "${A_FLOOD:-}" ] || rate_note
	[ -n "$A_TBAN" ] || { bad "no ban of $A_ELEM appeared in set $A_SET"; return 1; }
	_al=$(ev_lines alert "$A_ELEM" | grep -F "\"kind\":\"$_kind\"" | head -n 1)
	_bk=$(ev_lines ban "$A_ELEM" | head -n 1 | ev_field kind)
	_tal=$(printf '%s\n' "$_al" | ev_field ts)
	A_BAN_MS=$(ms "$A_T0" "$A_TBAN")
	A_DROP_MS=""
	[ -z "$A_TDROP" ] || A_DROP_MS=$(ms "$A_T0" "$A_TDROP")
	note "first attack packet               +0.0 ms"
	A_ALERT_MS=none
	[ -z "$_tal" ] || A_ALERT_MS=$(ms "$A_T0" "$(ts_epoch "$_tal")")
	note "alert (the crossing packet's time) +$A_ALERT_MS ms"
	[ -z "$A_DROP_MS" ] || note "first packet dropped (kernel time) +$A_DROP_MS ms" \
		"($(( A_PASSED - A_LEAKED )) got in before the ban)"
	note "ban seen by nft monitor           +$A_BAN_MS ms"
	note "after the ban: $A_DROPPED dropped by dosips's rule, $A_LEAKED got past it," \
		"$A_SOCK reached the victim's $A_PROTO counters"
	[ -n "$_al" ] && ok "alert $_kind for $A_ELEM" || bad "no $_kind alert for $A_ELEM in the events"
	[ "$_bk" = "$_kind" ] && ok "ban event for $A_ELEM, kind $_bk" ||
		bad "ban event for $A_ELEM has kind '${_bk}', want $_kind"
	# The monitor's figure is an upper bound (its reader may lag): assert it.
	awk -v m="$A_BAN_MS" -v b="$BAN_BOUND_MS" 'BEGIN { exit !(m <= b) }' &&
		ok "banned within $A_BAN_MS ms of the first packet (bound $BAN_BOUND_MS ms," \
			"target 100 ms)" ||
		bad "ban took $A_BAN_MS ms, bound $BAN_BOUND_MS ms"
	[ "$A_DROPPED" -gt 0 ] && ok "dosips's drop rule counted $A_DROPPED packets" ||
		bad "dosips's drop rule counted no packet"
	# Leaks are counted against the tap's packets: only if it lost none.
	if [ "$OBS_LOST" -ne 0 ]; then
		note "($A_LEAKED past the ingress after the ban by the tap's count: not judged)"
	elif [ "$A_LEAKED" -eq 0 ]; then
		ok "no attack packet got past the ingress after the ban"
	else
		bad "$A_LEAKED attack packets got past the ingress after the ban"
	fi
	# Both observers must have seen the attack get in before the ban, or
	# their zeros after it would prove nothing.
	[ "$A_PASSED" -gt 0 ] && [ $(( A_SOCK_ALL - A_SOCK )) -gt 0 ] &&
		ok "before the ban $A_PASSED got past the ingress, $(( A_SOCK_ALL - A_SOCK )) reached the $A_PROTO counters" ||
		bad "the observers saw nothing before the ban (passed $A_PASSED, counters $(( A_SOCK_ALL - A_SOCK )))"
	[ "$A_SOCK" -le 0 ] && ok "no attack packet reached the victim's stack after the ban" ||
		bad "$A_SOCK packets reached the victim's $A_PROTO counters after the ban"
	echo "MEASURED $T_NAME kind=$_kind rate_pps=$A_RATE alert_ms=$A_ALERT_MS" \
		"first_drop_ms=${A_DROP_MS:-none} monitor_ms=$A_BAN_MS dropped=$A_DROPPED leaked=$A_LEAKED socket=$A_SOCK"
}

# client_ok: the client still gets data through to the service.
client_ok() {
	_tag="client-$T_NAME-$(date +%s%N)"
	lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "$_tag" &&
		ok "the client still reaches the TCP service" ||
		bad "the client cannot reach the TCP service"
}

# attack_flood4 KIND HPING3-ARGS...: an IPv4 hping3 flood from the attacker
# (bounded: $FLOOD_COUNT packets, 10 s), measured, reported and checked.
attack_flood4() {
	_k=$1; shift
	A_SRC=$LAB_ATTACKER4 A_ELEM=$LAB_ATTACKER4 A_SET=ban4 A_FLOOD=1
	attack_run timeout 10 hping3 -q -c "$FLOOD_COUNT" -i "$FLOOD_INTERVAL" "$@" "$LAB_VICTIM4"
	attack_report "$_k"
}

# rate_note: says so when a flood fell short of the 10000 pps it stands for.
rate_note() {
	[ "${A_RATE:-0}" -ge 10000 ] ||
		note "(the flood ran at $A_RATE pps, below 10000: a slow or busy machine)"
}
