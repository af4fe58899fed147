#!/bin/sh
# bench-live.sh - live capacity: trafgen in a lab namespace offers small
# frames (60-byte TCP ACKs from 65,536 sources, each far below every
# threshold, to an on-link address that is not the victim's, which the
# victim's stack drops at once) at stepped rates; for each rate and each
# consumer it records packets offered, delivered by the victim's veth,
# received by the consumer, kernel drops, and CPU time per packet. The
# consumers: `tcpdump -s 256 -w /dev/null` (the yardstick), dosips with
# workers = 1 and with workers = 2 as configured by default (capture_wait
# = auto), and with workers = 1 in immediate mode and with kernel blocks
# (dosipsN-waitM: workers N, capture_wait M ms; M = 0 is immediate mode).
# A consumer name ending in -off (dosips1-wait1-off) runs with every
# detector disabled: the cost of capture, decode and flows alone.
# It prints the highest rate each kept with < 0.1 % drops, and dosips's
# ratios to tcpdump's.
#
#   sh scripts/bench-live.sh          (root; `make bench-live` builds first)
#
# Environment: LIVE_RATES (pps, "50000 100000 200000 400000 800000"),
# LIVE_SECONDS (3 per step), LIVE_CONSUMERS (the five above).
# When trafgen cannot reach a rate (the "delivered" column falls short of
# "offered"), the generator is the limit there, not the consumer.
set -eu

cd "$(dirname "$0")/.."
TOP=$(pwd)
DOSIPS=$TOP/build/release/dosips
RATES=${LIVE_RATES:-"50000 100000 200000 400000 800000"}
SECS=${LIVE_SECONDS:-3}
CONSUMERS=${LIVE_CONSUMERS:-"tcpdump dosips1 dosips2 dosips1-wait0 dosips1-wait1"}
BASE=$(( (198 << 24) + (19 << 16) ))
SINK=198.18.0.99

[ "$(id -u)" -eq 0 ] || { echo "bench-live: needs root (namespaces)" >&2; exit 77; }
for t in trafgen tcpdump; do
	command -v "$t" >/dev/null || { echo "bench-live: $t missing (sh scripts/deps.sh)" >&2; exit 77; }
done
[ -x "$DOSIPS" ] || { echo "bench-live: $DOSIPS missing: make all" >&2; exit 1; }

LAB_LIB=1 . "$TOP/scripts/lab.sh"
LAB_QUIET=1
OUT=$TOP/build/bench
# The lab's scratch files under build/, where no /tmp cleaning reaches them.
LAB_DIR=$OUT/live-lab
rm -rf "$LAB_DIR"
mkdir -p "$LAB_DIR"
lab_init
lab_trap
lab_up || { echo "bench-live: cannot build the lab" >&2; exit 1; }
RES=$OUT/live.txt
: >"$RES"
cat >"$LAB_DIR/flood.cfg" <<EOF
{ eth(da=$(lab_mac "$LAB_VICTIM")), ipv4(sa=dinc($BASE, $(( BASE + 65535 ))), da=$SINK, ttl=64),
  tcp(sp=dinc(1024, 60000), dp=443, ack, win=512) }
EOF

rx() { cat "/sys/class/net/$LAB_IFACE/statistics/rx_packets" 2>/dev/null ||
	lab_exec "$LAB_VICTIM" cat "/sys/class/net/$LAB_IFACE/statistics/rx_packets"; }
# cpu PID: nanoseconds the process's threads have run (schedstat).
cpu() { cat /proc/"$1"/task/*/schedstat | awk '{ t += $1 } END { printf "%d", t }'; }

# consumer_start NAME: starts it in the victim; sets C_PID.
consumer_start() {
	case $1 in
	tcpdump)
		lab_bg "$LAB_VICTIM" tcpdump -i "$LAB_IFACE" -n -s 256 -B 8192 -Q in \
			-w /dev/null 'ip or ip6' 2>"$LAB_DIR/c.log"
		C_PID=$LAB_LAST_PID
		lab_wait 5 grep -q listening "$LAB_DIR/c.log" ;;
	dosips*)
		_w=${1#dosips}
		_w=${_w%-off}
		printf 'control_socket =\nworkers = %s\ncapture_wait = %s\n' "${_w%-wait*}" \
			"$(case $_w in *-wait*) echo "${_w#*-wait}ms" ;; *) echo auto ;; esac)" \
			>"$LAB_DIR/d.conf"
		case $1 in
		*-off)
			for _k in syn_flood udp_flood icmp_flood port_scan rate_flood ddos reflection; do
				printf '[%s]\nenabled = no\n' "$_k"
			done >>"$LAB_DIR/d.conf" ;;
		esac
		lab_bg "$LAB_VICTIM" "$DOSIPS" -i "$LAB_IFACE" -c "$LAB_DIR/d.conf" -w /dev/null \
			--dry-run >"$LAB_DIR/c.log" 2>&1 </dev/null
		C_PID=$LAB_LAST_PID
		lab_wait 5 grep -q "watching $LAB_IFACE" "$LAB_DIR/c.log" ;;
	esac
}

# consumer_stop NAME: stops it; sets C_RECV and C_DROP.
consumer_stop() {
	kill -INT "$C_PID"
	wait "$C_PID" 2>/dev/null || true
	lab_forget "$C_PID"
	case $1 in
	tcpdump)
		C_RECV=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$LAB_DIR/c.log")
		C_DROP=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$LAB_DIR/c.log") ;;
	dosips*)
		C_RECV=$(sed -n 's/.*report: frames=\([0-9]*\).*/\1/p' "$LAB_DIR/c.log" | tail -n 1)
		C_DROP=$(sed -n 's/.* kernel_dropped=\([0-9]*\).*/\1/p' "$LAB_DIR/c.log" | tail -n 1)
		grep 'report: worker\.' "$LAB_DIR/c.log" | sed 's/^/    /' >>"$RES" || true ;;
	esac
}

printf '%-13s %9s %9s %9s %9s %9s %7s %8s\n' consumer rate offered delivered received \
	dropped drop% ns/pkt | tee -a "$RES"
for c in $CONSUMERS; do
	for r in $RATES; do
		n=$(( r * SECS ))
		consumer_start "$c" || { echo "bench-live: $c did not start" >&2; cat "$LAB_DIR/c.log" >&2; exit 1; }
		sleep 0.3
		rx0=$(lab_exec "$LAB_VICTIM" cat "/sys/class/net/$LAB_IFACE/statistics/rx_packets")
		cpu0=$(cpu "$C_PID")
		lab_exec "$LAB_ATTACKER" timeout $(( SECS * 4 + 10 )) trafgen -q --cpus 1 \
			-o "$LAB_IFACE" -c "$LAB_DIR/flood.cfg" -n "$n" -b "${r}pps" \
			>"$LAB_DIR/trafgen.log" 2>&1 || true
		sleep 0.5
		rx1=$(lab_exec "$LAB_VICTIM" cat "/sys/class/net/$LAB_IFACE/statistics/rx_packets")
		cpu1=$(cpu "$C_PID")
		consumer_stop "$c"
		awk -v c="$c" -v r="$r" -v n="$n" -v d=$(( rx1 - rx0 )) -v rc="${C_RECV:-0}" \
		    -v dr="${C_DROP:-0}" -v t=$(( cpu1 - cpu0 )) 'BEGIN {
			p = d > 0 ? 100 * dr / d : 0
			ns = rc > 0 ? t / rc : 0
			printf "%-13s %9d %9d %9d %9d %9d %7.3f %8.0f\n", c, r, n, d, rc, dr, p, ns
		}' | tee -a "$RES"
	done
done

# The highest rate with < 0.1 % drops, per consumer, and the ratios.
awk -v secs="$SECS" '$1 != "consumer" && NF == 8 {
	if ($7 < 0.1 && $4 >= 0.99 * $3 && $2 > best[$1]) best[$1] = $2
	if ($4 < 0.99 * $3 && !(($1, $2) in short)) {
		short[$1, $2] = 1
		printf "bench-live: at %d pps trafgen delivered only %d pps: the generator is the limit there\n", $2, $4 / secs
	}
	if ($2 == 100000) ns[$1] = $8
} END {
	for (c in best) {
		x = ""
		if (c != "tcpdump" && best["tcpdump"] > 0)
			x = sprintf(", %.2fx tcpdump", best[c] / best["tcpdump"])
		printf "bench-live: %s kept up with %d pps (< 0.1 %% drops)%s\n", c, best[c], x
	}
	for (c in ns)
		if (c != "tcpdump" && ns["tcpdump"] > 0)
			printf "bench-live: at 100000 pps %s used %.0f ns of CPU per packet, %.2fx tcpdump -s 256\n", c, ns[c], ns[c] / ns["tcpdump"]
}' "$RES" | sort
echo "bench-live: per-worker lines in $RES"
