#!/bin/sh
# e2e_capture_wait.sh - capture_wait = auto, the default, reads a busy
# capture about once a millisecond instead of once a packet, and a quiet one
# not at all. The client sends 20,000 pure ACKs of one flow 100 us apart (a
# steady 10,000 a second, below every bar; the victim answers each with a
# RST, captured too). With auto, dosips reads the capture fewer than a
# quarter as many times as it counts packets; with capture_wait = 0
# (immediate mode) more. Once the stream has ended, an idle second adds
# almost no reads: nothing polls a quiet capture.
. "$(dirname "$0")/lib.sh"
t_init capture_wait

stat_of() {
	"$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" stats 2>/dev/null | sed -n "s/^$1=//p"
}

stream() {
	lab_exec "$LAB_CLIENT" timeout 20 hping3 -q -A -k -s 40000 -p "$LAB_TCP_PORT" \
		-i u100 -c 20000 "$LAB_VICTIM4" >/dev/null 2>&1
}

for mode in auto 0; do
	T_CONF="capture_wait = $mode"
	dosips_start
	p0=$(stat_of packets) r0=$(stat_of capture_reads)
	stream
	sleep 0.3
	p1=$(stat_of packets) r1=$(stat_of capture_reads)
	sleep 1
	r2=$(stat_of capture_reads)
	dosips_stop
	pk=$(( ${p1:-0} - ${p0:-0} )) rd=$(( ${r1:-0} - ${r0:-0} )) idle=$(( ${r2:-0} - ${r1:-0} ))
	[ -n "${r0:-}" ] && [ "$pk" -ge 20000 ] ||
		bad "capture_wait = $mode: $pk packets counted, capture_reads '${r0:-absent}'"
	echo "     capture_wait = $mode: $pk packets in $rd reads; $idle reads in the idle second after"
	if [ "$mode" = auto ]; then
		[ $((rd * 4)) -lt "$pk" ] &&
			ok "auto: a busy capture is read $rd times for $pk packets" ||
			bad "auto: $rd reads for $pk packets (want fewer than a quarter)"
		[ "$idle" -le 10 ] &&
			ok "auto: $idle reads in an idle second (no polling while quiet)" ||
			bad "auto: $idle reads in an idle second (want at most 10)"
		ev_count alert | grep -qx 0 &&
			ok "auto: no alert for the stream" || bad "auto: the stream alerted"
	else
		[ $((rd * 4)) -gt "$pk" ] &&
			ok "0: immediate mode reads per packet ($rd reads for $pk packets)" ||
			bad "0: $rd reads for $pk packets (want more than a quarter)"
	fi
	rm -f "$LAB_DIR/events.json"
done
t_done
