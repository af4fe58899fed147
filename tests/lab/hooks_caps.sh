#!/bin/sh
# hooks_caps.sh - hooks run with no capabilities under the shipped unit's
# capability set (CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW: no
# CAP_SETPCAP, so the bounding set cannot be emptied), simulated with
# setpriv; read from the running hook's /proc/PID/status. Then hook_user:
# hooks as nobody, dosips keeping CAP_SETUID and CAP_SETGID for it. dosips
# runs --dry-run in a namespace of our own (a ban by hand runs on_ban).
. "$(dirname "$0")/ns.sh"
ns_init hk setpriv
SOCK=$T/ctl.sock
field() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }

# The hook copies its own status while it runs, then lingers a little.
cat > "$T/hook" <<EOF2
#!/bin/sh
cat /proc/\$\$/status > "$T/out/hook.status.tmp" && mv "$T/out/hook.status.tmp" "$T/out/hook.status"
sleep 0.2
EOF2
chmod 755 "$T/hook"
mkdir -m 1777 "$T/out"   # the hook may run as nobody

# start BOUNDING-SET [CONF-LINE]: dosips under setpriv's bounding set
start() {
	printf '%s\n' "control_socket = $SOCK" "on_ban = $T/hook" "user =" "${2:-}" > "$T/dosips.conf"
	rm -f "$T/out/hook.status"
	ip netns exec "$N" setpriv --bounding-set "$1" --inh-caps -all -- \
		"$BIN/dosips" -i lo --dry-run -c "$T/dosips.conf" -w /dev/null > "$T/log" 2>&1 &
	DPID=$!
	wait_for [ -S "$SOCK" ] || { cat "$T/log"; bad "dosips up"; exit 1; }
}
stop() {
	kill -TERM "$DPID"; wait "$DPID"; DPID=""
}

# ---- the shipped unit's set ----------------------------------------------
start -all,+net_admin,+net_raw
check "dosips holds CAP_NET_ADMIN and CAP_NET_RAW only" \
	[ "$(field CapEff /proc/$DPID/status)" = 0000000000003000 ]
check "and has set no_new_privs itself" [ "$(field NoNewPrivs /proc/$DPID/status)" = 1 ]
"$BIN/dosipsctl" -s "$SOCK" ban 198.18.0.77 >/dev/null
wait_for [ -e "$T/out/hook.status" ] || bad "on_ban ran"
S=$T/out/hook.status
echo "     hook: Uid $(field Uid "$S") CapInh $(field CapInh "$S") CapPrm $(field CapPrm "$S")" \
	"CapEff $(field CapEff "$S") CapBnd $(field CapBnd "$S") CapAmb $(field CapAmb "$S")" \
	"NoNewPrivs $(field NoNewPrivs "$S")"
check "hook's permitted set is empty" [ "$(field CapPrm "$S")" = 0000000000000000 ]
check "hook's effective set is empty" [ "$(field CapEff "$S")" = 0000000000000000 ]
check "hook's inheritable and ambient sets are empty" \
	[ "$(field CapInh "$S")$(field CapAmb "$S")" = 00000000000000000000000000000000 ]
check "hook has no_new_privs: no exec can give it capabilities back" \
	[ "$(field NoNewPrivs "$S")" = 1 ]
stop

# ---- with CAP_SETPCAP the bounding set goes too ------------------------------
start -all,+net_admin,+net_raw,+setpcap
"$BIN/dosipsctl" -s "$SOCK" ban 198.18.0.78 >/dev/null
wait_for [ -e "$T/out/hook.status" ] || bad "on_ban ran"
check "with CAP_SETPCAP, the hook's bounding set is empty" \
	[ "$(field CapBnd "$S")" = 0000000000000000 ]
stop

# ---- hook_user -------------------------------------------------------------
start -all,+net_admin,+net_raw,+setuid,+setgid "hook_user = nobody"
check "dosips keeps CAP_SETUID and CAP_SETGID for hook_user" \
	[ "$(field CapEff /proc/$DPID/status)" = 00000000000030c0 ]
"$BIN/dosipsctl" -s "$SOCK" ban 198.18.0.79 >/dev/null
wait_for [ -e "$T/out/hook.status" ] || bad "on_ban ran"
check "the hook runs as nobody" [ "$(field Uid "$S")" = "$(id -u nobody)" ]
check "with no capabilities" \
	[ "$(field CapPrm "$S")$(field CapEff "$S")" = 00000000000000000000000000000000 ]
stop

ns_done "$T/log"
