#!/bin/sh
# record-captures.sh: records the small captures in tests/captures/ from
# real tools in the lab (scripts/lab.sh): nmap, hping3 and nping as the
# attacker, nc, ping, hping3 and socat as benign clients and services,
# tcpdump on the victim's interface (both directions, so the victim's own
# replies are in the file too). Run as root; rerun only to refresh the
# files (tests/replay/realtools.sh replays them). Every generator is
# bounded in count and time.
#
#   sh scripts/record-captures.sh [DIR [NAME...]]   only the captures NAMEd
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/tests/captures}
[ $# -gt 0 ] && shift
ONLY="$*"
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

# wanted NAME: NAME is to be recorded this run.
wanted() {
	[ -z "$ONLY" ] || case " $ONLY " in *" $1 "*) ;; *) return 1 ;; esac
}

# record NAME CMD...: tcpdump on the victim while CMD and a benign client run.
record() {
	name=$1; shift
	wanted "$name" || return 0
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
wanted benign && record benign true
record nmap-syn-scan lab_exec "$A" timeout 20 nmap -n -Pn -sS -p 1-60 --max-retries 0 "$V4"
record hping3-syn-flood lab_exec "$A" timeout 10 hping3 -q -S -p "$LAB_TCP_PORT" -i u200 -c 300 "$V4"
record hping3-udp-flood lab_exec "$A" timeout 10 hping3 -q -2 -d 16 -p 53 -i u200 -c 400 "$V4"
record hping3-icmp-flood lab_exec "$A" timeout 10 hping3 -q -1 -i u200 -c 150 "$V4"
record nping-syn-flood-v6 lab_exec "$A" timeout 10 nping -6 -q --tcp --flags syn \
	-p "$LAB_TCP_PORT" --rate 2000 -c 150 "$LAB_VICTIM6"

# Every scan nmap makes, 40 ports (protocols for -sO), one probe each.
for t in sT:connect sF:fin sX:xmas sN:null sA:ack sM:maimon sW:window sU:udp sO:ipproto; do
	record "nmap-${t#*:}-scan" lab_exec "$A" timeout 30 nmap -n -Pn "-${t%:*}" -p 1-40 \
		--max-retries 0 "$V4"
done

# quiet NAME CMD...: like record, without the benign client (the capture is
# exactly the conversation CMD makes), 64 bytes of each frame.
quiet() {
	name=$1; shift
	wanted "$name" || return 0
	# Headers only: the streams are thousands of packets.
	lab_bg "$LAB_VICTIM" tcpdump -q -n -s 64 -U ${QUIET_LINK:--i $LAB_IFACE} -w "$OUT/$name.pcap" \
		'ip or ip6'
	pid=$LAB_LAST_PID
	sleep 1
	"$@" >/dev/null 2>&1 || true
	sleep 0.5
	lab_kill "$pid"
	echo "recorded $OUT/$name.pcap: $(tcpdump -nr "$OUT/$name.pcap" 2>/dev/null | wc -l) packets"
}

# A UDP service that answers every datagram (socat echoing to its one
# peer), and a client sending it 1000 datagrams a second for 5 s from one
# port (hping3), whose answers a socket of the client's takes (socat): the
# shape of QUIC, WireGuard or a game.
udp_stream() {
	lab_bg "$LAB_VICTIM" timeout 10 socat -T 8 UDP4-LISTEN:5000,reuseaddr EXEC:cat
	lab_bg "$C" timeout 10 socat -u UDP4-RECV:40000 /dev/null
	sleep 0.3
	lab_exec "$C" timeout 8 hping3 -q -2 -k -s 40000 -p 5000 -d 64 -i u1000 -c 5000 "$V4"
	sleep 0.3
}
quiet udp-answered-stream udp_stream

# A call: 50 datagrams a second each way between the client's port 40002
# and the victim's 5004, for 10 s.
call() {
	lab_bg "$C" timeout 14 socat -u UDP4-RECV:40002 /dev/null
	lab_bg "$LAB_VICTIM" timeout 14 socat -u UDP4-RECV:5004 /dev/null
	sleep 0.3
	lab_exec "$C" timeout 14 hping3 -q -2 -k -s 40002 -p 5004 -d 160 -i u20000 -c 500 "$V4" &
	_c=$!
	sleep 0.01
	lab_exec "$LAB_VICTIM" timeout 14 hping3 -q -2 -k -s 5004 -p 40002 -d 160 -i u20000 \
		-c 500 "$C4"
	wait "$_c"
}
C4=$LAB_CLIENT4
quiet udp-call call

# Sources no host can hold, sent as Ethernet frames (nping --send-eth) so
# that no kernel fills in an address: 300 DHCP-discover-shaped datagrams
# from 0.0.0.0 and 300 datagrams from a multicast address, both more than
# udp_flood's threshold.
bogus() {
	_mac=$(lab_mac "$LAB_VICTIM")
	lab_exec "$A" timeout 10 nping -q --send-eth -e "$LAB_IFACE" --dest-mac ff:ff:ff:ff:ff:ff \
		--udp -S 0.0.0.0 -g 68 -p 67 --rate 1000 -c 300 255.255.255.255
	lab_exec "$A" timeout 10 nping -q --send-eth -e "$LAB_IFACE" --dest-mac "$_mac" \
		--udp -S 224.0.0.9 -g 520 -p 40000 --rate 1000 -c 300 "$V4"
}
quiet bogus-sources bogus

# Answers from DNS port 53 that the victim never asked for, from 300
# reflectors (hping3 --rand-source stands in for them), towards one port.
quiet reflection lab_exec "$A" timeout 10 hping3 -q -2 --rand-source -s 53 -k -p 33333 -d 200 \
	-i u5000 -c 300 "$V4"

# clock-step: a client querying a UDP service that never answers 20 times a
# second for 24 s (96 in any 5 s window, under udp_flood's 200), with the
# packet clock stepped back an hour half way (as an NTP step or a merged
# capture does): the second half's stamps are rewritten 3600 s earlier.
steady() {
	lab_exec "$C" timeout 30 hping3 -q -2 -k -s 40010 -p "$LAB_UDP_PORT" -d 32 -i u50000 \
		-c 480 "$V4"
}
if wanted clock-step; then
	ONLY_SAVE=$ONLY ONLY=""
	quiet clock-step.raw steady
	ONLY=$ONLY_SAVE
	python3 - "$OUT/clock-step.raw.pcap" "$OUT/clock-step.pcap" <<'PY'
import struct, sys
# A classic pcap file: a 24-byte header, then per packet 16 bytes (sec,
# usec, caplen, len) and caplen bytes. The second half steps back 3600 s.
data = open(sys.argv[1], "rb").read()
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
out, off, recs = [data[:24]], 24, []
while off + 16 <= len(data):
    sec, usec, cap, ln = struct.unpack(end + "IIII", data[off:off + 16])
    recs.append([sec, usec, cap, ln, data[off + 16:off + 16 + cap]])
    off += 16 + cap
for i, r in enumerate(recs):
    if i >= len(recs) // 2:
        r[0] -= 3600
    out.append(struct.pack(end + "IIII", *r[:4]) + r[4])
open(sys.argv[2], "wb").write(b"".join(out))
PY
	rm -f "$OUT/clock-step.raw.pcap"
	echo "recorded $OUT/clock-step.pcap: second half stepped back 3600 s"
fi

# The victim sends 300 datagrams at 1000 a second to a client port that
# never answers: its own packets, recorded on Ethernet (no direction: only
# --local tells) and as Linux cooked v2 frames on "any" (packet type says
# outgoing).
outbound() {
	lab_exec "$LAB_VICTIM" timeout 10 hping3 -q -2 -k -s 5353 -p 40020 -d 32 -i u1000 -c 300 \
		"$C4"
}
quiet victim-sends outbound
QUIET_LINK="-i any -y LINUX_SLL2" quiet victim-sends-sll2 outbound
