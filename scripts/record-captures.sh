#!/bin/sh
# record-captures.sh: records the small captures in tests/captures/ from
# real tools in the lab (scripts/lab.sh): nmap and hping3 as the attacker,
# nc and ping as a benign client, tcpdump on the victim's interface (both
# directions, so the victim's own replies are in the file too). Run as
# root; rerun only to refresh the files (tests/replay/realtools.sh replays
# them). Every generator is bounded in count and time.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/tests/captures}
LAB_LIB=1 . "$TOP/scripts/lab.sh"
[ "$(id -u)" -eq 0 ] || { echo "record-captures: needs root" >&2; exit 1; }
lab_init
lab_trap
LAB_QUIET=1
lab_up || exit 1
lab_services || exit 1
A=$LAB_ATTACKER C=$LAB_CLIENT V4=$LAB_VICTIM4

# benign NS: a client's everyday traffic: handshakes that complete, data,
# pings, UDP queries.
benign() {
	for i in 1 2 3 4 5 6 7 8; do
		echo "hello $i" | lab_exec "$1" nc -N -w 1 "$V4" "$LAB_TCP_PORT" >/dev/null 2>&1 || true
	done
	lab_exec "$1" ping -c 4 -i 0.2 -W 1 "$V4" >/dev/null 2>&1 || true
	lab_exec "$1" hping3 -q -2 -d 16 -c 5 -i u20000 -p "$LAB_UDP_PORT" "$V4" >/dev/null 2>&1 || true
}

# record NAME CMD...: tcpdump on the victim while CMD and a benign client run.
record() {
	name=$1; shift
	lab_bg "$LAB_VICTIM" tcpdump -q -n -s 128 -U -i "$LAB_IFACE" -w "$OUT/$name.pcap" 'ip or ip6'
	pid=$LAB_LAST_PID
	sleep 1
	benign "$C" &
	bpid=$!
	"$@" >/dev/null 2>&1 || true
	wait "$bpid"
	sleep 0.5
	lab_kill "$pid"
	echo "recorded $OUT/$name.pcap: $(tcpdump -nr "$OUT/$name.pcap" 2>/dev/null | wc -l) packets"
}

mkdir -p "$OUT"
record benign true
record nmap-syn-scan lab_exec "$A" timeout 20 nmap -n -Pn -sS -p 1-60 --max-retries 0 "$V4"
record hping3-syn-flood lab_exec "$A" timeout 10 hping3 -q -S -p "$LAB_TCP_PORT" -i u200 -c 300 "$V4"
record hping3-udp-flood lab_exec "$A" timeout 10 hping3 -q -2 -d 16 -p 53 -i u200 -c 400 "$V4"
record hping3-icmp-flood lab_exec "$A" timeout 10 hping3 -q -1 -i u200 -c 150 "$V4"
record nping-syn-flood-v6 lab_exec "$A" timeout 10 nping -6 -q --tcp --flags syn \
	-p "$LAB_TCP_PORT" --rate 2000 -c 150 "$LAB_VICTIM6"
