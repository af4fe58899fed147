#!/bin/sh
# files_user.sh - the unit's way of running dosips, and its files. (1) As
# the unit runs it (an unprivileged user from the start, CAP_NET_ADMIN and
# CAP_NET_RAW ambient, simulated with setpriv; RuntimeDirectory= and
# LogsDirectory= simulated by directories of that user): it bans, sets
# no_new_privs itself, and the shipped logrotate snippet, run by the real
# logrotate, rotates its events file, new lines going to the new file.
# (2) Started as root with `user` set: the events file is handed to that
# user, so SIGHUP reopens it after the switch; the control socket's missing
# directory is made; an events path that is a symlink is refused.
# Everything in a network namespace of our own (its loopback), real nft.
. "$(dirname "$0")/ns.sh"
ns_init fu nft setpriv logrotate
field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$DPID/status"; }
set_has() { ip netns exec "$N" nft list set inet dosips ban4 2>/dev/null | grep -q "$1"; }
has() { grep -q "$1" "$2" 2>/dev/null; }
stop() { kill -TERM "$DPID"; wait "$DPID"; DPID=""; }

# ---- (1) as the unit runs it -------------------------------------------------
install -d -o nobody -g "$NOGROUP" -m 0755 "$T/run"
install -d -o nobody -g "$NOGROUP" -m 0750 "$T/log"
printf '%s\n' "control_socket = $T/run/dosips.sock" "events = $T/log/events.json" \
	> "$T/unit.conf"
ip netns exec "$N" setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
	--inh-caps=-all,+net_admin,+net_raw --ambient-caps=-all,+net_admin,+net_raw \
	--bounding-set=-all,+net_admin,+net_raw \
	"$BIN/dosips" -i lo -c "$T/unit.conf" -w /dev/null > "$T/log1" 2>&1 &
DPID=$!
wait_for [ -S "$T/run/dosips.sock" ] || { cat "$T/log1"; bad "dosips up as nobody"; exit 1; }
check "runs as nobody" [ "$(field Uid)" = "$(id -u nobody)" ]
check "with CAP_NET_ADMIN and CAP_NET_RAW" [ "$(field CapEff)" = 0000000000003000 ]
check "no_new_privs set by dosips itself" [ "$(field NoNewPrivs)" = 1 ]
"$BIN/dosipsctl" -s "$T/run/dosips.sock" ban 198.18.0.71 >/dev/null
check "a ban reaches the kernel" wait_for set_has 198.18.0.71
sed -e "s|/var/log/dosips/events.json|$T/log/events.json|" \
    -e "s|create 0640 dosips adm|create 0640 nobody $NOGROUP|" \
    -e "s|systemctl kill .*|kill -HUP $DPID|" \
    "$TOP/policy/dosips.logrotate" > "$T/logrotate.conf"
logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" 2> "$T/logrotate.err" ||
	{ cat "$T/logrotate.err"; bad "logrotate ran"; }
check "logrotate moved the events file aside" has 198.18.0.71 "$T/log/events.json.1"
check "and made a new one for the daemon's user" \
	[ "$(stat -c %U "$T/log/events.json")" = nobody ]
sleep 0.3
"$BIN/dosipsctl" -s "$T/run/dosips.sock" ban 198.18.0.72 >/dev/null
check "the next ban goes to the new file" wait_for has 198.18.0.72 "$T/log/events.json"
check "with no reopen error" [ -z "$(grep -i 'cannot reopen' "$T/log1")" ]
stop

# ---- (2) started as root, becoming nobody ------------------------------------
printf '%s\n' "control_socket = $T/made/ctl.sock" "events = $T/events.json" \
	"user = nobody" > "$T/root.conf"
ip netns exec "$N" "$BIN/dosips" -i lo -c "$T/root.conf" -w /dev/null > "$T/log2" 2>&1 &
DPID=$!
wait_for [ -S "$T/made/ctl.sock" ] ||
	bad "the control socket's missing directory was made ($(tail -n 1 "$T/log2"))"
check "runs as nobody" [ "$(field Uid)" = "$(id -u nobody)" ]
check "no_new_privs set" [ "$(field NoNewPrivs)" = 1 ]
check "the events file was handed to nobody" [ "$(stat -c %U "$T/events.json")" = nobody ]
kill -HUP "$DPID"
wait_for grep -q "reloaded" "$T/log2"
check "SIGHUP reopens the events file after the switch" \
	[ -z "$(grep -i 'cannot reopen' "$T/log2")" ]
[ -S "$T/made/ctl.sock" ] && stop || { kill -9 "$DPID"; DPID=""; }

# ---- a symlink at the events path ---------------------------------------------
ln -s "$T/elsewhere" "$T/link.json"
printf '%s\n' "control_socket = $T/ctl3.sock" "events = $T/link.json" "user =" > "$T/link.conf"
out=$(ip netns exec "$N" timeout 10 "$BIN/dosips" -i lo -c "$T/link.conf" -w /dev/null 2>&1); st=$?
check "an events path that is a symlink is refused ($st)" [ $st -eq 1 ]
check "in words" sh -c "echo \"\$0\" | grep -q \"symbolic links\"" "$out"
check "and nothing was written through it" [ ! -e "$T/elsewhere" ]

cat "$T/log1" >> "$T/log2"
ns_done "$T/log2"
