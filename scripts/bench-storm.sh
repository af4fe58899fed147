#!/bin/sh
# bench-storm.sh - many flooders at once: N distinct sources each send K SYNs
# (threshold 100: just above it), all interleaved, from trafgen in a lab
# namespace to dosips and real nftables in the victim. Prints, for each N,
# the sources alerted and banned (misses), the worst time from a crossing
# packet to its ban's commit (packet_to_kernel_us), verdict_to_kernel_us,
# kernel drops and dosips's peak RSS.
#
#   sh scripts/bench-storm.sh        (root; after `make all`)
#
# Environment: STORM_SOURCES ("1000 10000"), STORM_SYNS (150),
# STORM_WINDOW (syn_flood.window, 30s: the bench is about the pools and the
# commits, not about whether the generator keeps 100 SYNs of each source
# inside 5 s on a loaded machine), STORM_WORKERS (1).
set -eu

cd "$(dirname "$0")/.."
TOP=$(pwd)
DOSIPS=$TOP/build/release/dosips
SOURCES=${STORM_SOURCES:-"1000 10000"}
SYNS=${STORM_SYNS:-150}
WINDOW=${STORM_WINDOW:-30s}
WORKERS=${STORM_WORKERS:-1}
# 198.19.0.1 upwards: inside the lab's 198.18.0.0/15, outside its hosts.
BASE=$(( (198 << 24) + (19 << 16) + 1 ))

[ "$(id -u)" -eq 0 ] || { echo "bench-storm: needs root (namespaces, nftables)" >&2; exit 77; }
command -v trafgen >/dev/null || { echo "bench-storm: trafgen missing (netsniff-ng)" >&2; exit 77; }
[ -x "$DOSIPS" ] || { echo "bench-storm: $DOSIPS missing: make all" >&2; exit 1; }

LAB_LIB=1 . "$TOP/scripts/lab.sh"
LAB_QUIET=1

# storm N: one lab, one dosips, one flood of N sources; prints one line.
storm() {
	_n=$1
	# The lab's scratch files under build/, where no /tmp cleaning reaches.
	LAB_DIR=$TOP/build/bench/storm-lab
	rm -rf "$LAB_DIR"
	mkdir -p "$LAB_DIR"
	lab_init
	lab_up || { echo "bench-storm: cannot build the lab" >&2; exit 1; }
	cat >"$LAB_DIR/dosips.conf" <<-EOF
	control_socket = $LAB_DIR/ctl.sock
	max_bans = $(( _n > 10000 ? _n : 10000 ))
	set_size = $(( _n > 10000 ? 2 * _n : 65536 ))
	workers = $WORKERS
	[syn_flood]
	window = $WINDOW
	EOF
	[ "$WORKERS" -gt 1 ] || sed -i '/^workers/d' "$LAB_DIR/dosips.conf"
	: >"$LAB_DIR/whitelist"
	lab_bg "$LAB_VICTIM" "$DOSIPS" -i "$LAB_IFACE" -c "$LAB_DIR/dosips.conf" \
		-w "$LAB_DIR/whitelist" --events "$LAB_DIR/events.json" \
		>"$LAB_DIR/dosips.log" 2>&1 </dev/null
	_pid=$LAB_LAST_PID
	lab_wait 5 grep -q "watching $LAB_IFACE" "$LAB_DIR/dosips.log" ||
		{ cat "$LAB_DIR/dosips.log" >&2; echo "bench-storm: dosips did not start" >&2; exit 1; }
	_mac=$(lab_mac "$LAB_VICTIM")
	cat >"$LAB_DIR/storm.cfg" <<-EOF
	{ eth(da=$_mac), ipv4(sa=dinc($BASE, $(( BASE + _n - 1 ))), da=$LAB_VICTIM4, ttl=64),
	  tcp(sp=dinc(1024, 60000), dp=$LAB_TCP_PORT, syn, win=512) }
	EOF
	_t0=$(date +%s.%N)
	lab_exec "$LAB_ATTACKER" timeout 120 trafgen -q --cpus 1 -o "$LAB_IFACE" \
		-c "$LAB_DIR/storm.cfg" -n $(( _n * SYNS )) >"$LAB_DIR/trafgen.log" 2>&1 ||
		{ cat "$LAB_DIR/trafgen.log" >&2; echo "bench-storm: trafgen failed" >&2; exit 1; }
	_t1=$(date +%s.%N)
	# Every verdict of the flood is decided by now but for what dosips
	# still has to read: give it a moment, then ask for its report.
	sleep 2
	_hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$_pid/status")
	kill -TERM "$_pid"
	wait "$_pid" || true
	lab_forget "$_pid"
	# The report's count: the events file holds only what log_limit lets
	# through of an alert storm.
	_alerts=$(sed -n 's/.*alerts\.syn_flood=\([0-9]*\).*/\1/p' "$LAB_DIR/dosips.log" | tail -n 1)
	_banned=$(lab_exec "$LAB_VICTIM" nft list set inet dosips ban4 | tr '{},' '\n\n\n' |
		grep -c '198\.19\.' || true)
	_p2k=$(sed -n 's/.*packet_to_kernel_us.max=\([0-9]*\).*/\1/p' "$LAB_DIR/dosips.log" | tail -n 1)
	_v2k=$(sed -n 's/.*verdict_to_kernel_us.max=\([0-9]*\).*/\1/p' "$LAB_DIR/dosips.log" | tail -n 1)
	_drop=$(sed -n 's/.* kernel_dropped=\([0-9]*\).*/\1/p' "$LAB_DIR/dosips.log" | tail -n 1)
	awk -v n="$_n" -v k="$SYNS" -v a="${_alerts:-0}" -v b="$_banned" -v p="${_p2k:-?}" \
	    -v v="${_v2k:-?}" -v d="${_drop:-?}" -v m="$_hwm" -v t0="$_t0" -v t1="$_t1" 'BEGIN {
		printf "storm %6d sources x %d SYNs: sent in %.2f s (%d pps); alerted %d, banned %d, missed %d;",
		       n, k, t1 - t0, n * k / (t1 - t0), a, b, n - b
		printf " packet_to_kernel max %s us, verdict_to_kernel max %s us; kernel drops %s; peak RSS %.1f MB\n",
		       p, v, d, m / 1024
	}'
	grep 'report:' "$LAB_DIR/dosips.log" >>"$TOP/build/bench/storm.log"
	lab_down
}

mkdir -p build/bench
: >build/bench/storm.log
trap 'lab_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for n in $SOURCES; do
	storm "$n"
done
