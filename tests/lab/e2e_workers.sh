#!/bin/sh
# e2e_workers.sh - with workers = 2, two capture threads share the interface
# in a PACKET_FANOUT group sharded by source: SYN floods from 198.18.0.3 and
# 198.18.0.5 (spoofed), which the fanout hash puts on different workers
# (workers_shard: 1 and 0), are each banned within the bound, and the report
# shows each worker counted packets and handed on a verdict.
. "$(dirname "$0")/lib.sh"
SECOND=198.18.0.5
t_init workers
T_CONF="workers = 2"
dosips_start
grep -q "2 workers, sharded by source" "$LAB_DIR/dosips.log" &&
	ok "dosips runs 2 workers" || bad "dosips does not say it runs 2 workers"
A_PROTO=tcp
attack_flood4 syn_flood -S -p "$LAB_TCP_PORT"
A_SRC=$SECOND A_ELEM=$SECOND A_SET=ban4 A_FLOOD=1
attack_run timeout 10 hping3 -q -c "$FLOOD_COUNT" -i "$FLOOD_INTERVAL" -S -a "$SECOND" \
	-p "$LAB_TCP_PORT" "$LAB_VICTIM4"
attack_report syn_flood
client_ok
_s=$("$BIN/dosipsctl" -s "$LAB_DIR/ctl.sock" stats 2>&1)
printf '%s\n' "$_s" | grep -q '^worker\.1\.packets=[1-9]' &&
	ok "dosipsctl stats gives per-worker counters ($(printf '%s\n' "$_s" | grep -c '^worker\.') keys)" ||
	bad "dosipsctl stats has no worker.1.packets: $(printf '%s\n' "$_s" | head -n 3)"
# A reload that changes detection keeps the shards (threads run them) and says so.
echo "cooldown = 7s" >>"$LAB_DIR/dosips.conf"
kill -HUP "$DOSIPS_PID"
lab_wait 5 grep -q "detection settings (workers > 1)" "$LAB_DIR/dosips.log" &&
	ok "reload: detection settings wait for a restart with workers" ||
	bad "reload did not say detection settings wait for a restart"
dosips_stop
for w in 0 1; do
	_l=$(grep "report: worker\.$w\.packets=" "$LAB_DIR/dosips.log" | tail -n 1)
	_p=$(printf '%s\n' "$_l" | sed -n "s/.*worker\.$w\.packets=\([0-9]*\).*/\1/p")
	_v=$(printf '%s\n' "$_l" | sed -n "s/.*worker\.$w\.verdicts=\([0-9]*\).*/\1/p")
	[ "${_p:-0}" -gt 0 ] && [ "${_v:-0}" -ge 1 ] &&
		ok "worker $w counted $_p packets and handed on $_v verdicts" ||
		bad "worker $w: packets=${_p:-none} verdicts=${_v:-none} (want both floods' verdicts spread)"
done
t_done
