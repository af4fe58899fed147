#!/bin/sh
# e2e_iface_gone.sh - the watched interface disappears: dosips says why and
# exits with status 1 within a second (for its supervisor to restart it),
# instead of spinning on a dead descriptor; with one capture and with two
# workers (whose broken capture is told to the main loop); and when it was
# taken down first and removed later, which wakes no reader (the kernel
# reports only the first), so dosips must look for itself.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces)"; exit 77; }
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
LOG=$(mktemp)
CONF=$(mktemp)
trap 'for n in 1 2 3 4; do ip netns del "dg$$-gone$n" 2>/dev/null; done; rm -f "$LOG" "$CONF"' EXIT

# gone RUN WORKERS [down]: one run, in a namespace of its own.
gone() {
NS=dg$$-gone$1
shift
: >"$LOG"	# before the start, so that the last run's words are not read
printf 'control_socket =\nworkers = %s\n' "$1" >"$CONF"
ip netns add "$NS" || exit 1
ip -n "$NS" link add v0 type veth peer name v1 && ip -n "$NS" link set v0 up &&
	ip -n "$NS" link set v1 up || exit 1
ip netns exec "$NS" "$TOP/build/release/dosips" -i v0 --dry-run -c "$CONF" -w /dev/null \
	>"$LOG" 2>&1 </dev/null &
pid=$!
i=0
until grep -q "watching v0" "$LOG" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "watching v0" "$LOG" || { echo "FAIL dosips did not start (workers = $1)"; cat "$LOG" "$CONF"; kill "$pid"; exit 1; }
if [ "${2:-}" = down ]; then
	ip -n "$NS" link set v0 down
	sleep 0.5
	kill -0 "$pid" 2>/dev/null || { echo "FAIL dosips stopped when v0 only went down"; cat "$LOG"; exit 1; }
fi
ip -n "$NS" link del v0
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	echo "FAIL dosips still running 1 s after its interface disappeared"
	kill -KILL "$pid"; exit 1
fi
wait "$pid"
st=$?
cat "$LOG"
[ "$st" -eq 1 ] || { echo "FAIL exit status $st, want 1"; exit 1; }
grep -q "capture: The interface disappeared" "$LOG" || { echo "FAIL no reason given"; exit 1; }
echo "ok   workers = $1${2:+, $2 first}: exited with status 1 after $((i * 50)) ms"
}

gone 1 1
gone 2 2
gone 3 1 down
gone 4 2 down
echo "PASS iface_gone"
