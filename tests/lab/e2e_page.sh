#!/bin/sh
# e2e_page.sh - the live page in Chromium headless (puppeteer-core from
# npm, Debian's chromium) during a real UDP flood (UDP, so that the
# browser's own TCP does not blur the victim's counters the flood is judged
# by), dosips listening on the
# victim's lab address with tokens. The browser runs in the client's
# namespace. The attacker's ban appears on the page within 1 s of nft
# monitor seeing it in the kernel; the chart moves; the history filter
# finds the ban; off loopback a request without a token gets 401; a viewer
# token's unban gets 403 and leaves the kernel's ban; an admin unbans from
# the page, the element leaves the kernel set, and the audit row names the
# admin role. Screenshots go to build/page-shots/.
. "$(dirname "$0")/lib.sh"
PAGE_DIR=$TOP/tests/lab/page
NPM_DIR=$TOP/build/npm-page
SHOTS=$TOP/build/page-shots
PORT=9210

for _t in chromium node npm; do
	command -v "$_t" >/dev/null 2>&1 && continue
	echo "skipped: $_t is not installed (sh scripts/deps.sh)"
	[ "${CI:-}" = true ] && exit 1
	exit 77
done
# puppeteer-core from the registry, at the locked version, once per change.
if ! cmp -s "$PAGE_DIR/package-lock.json" "$NPM_DIR/package-lock.json" ||
   [ ! -d "$NPM_DIR/node_modules/puppeteer-core" ]; then
	mkdir -p "$NPM_DIR"
	cp "$PAGE_DIR/package.json" "$PAGE_DIR/package-lock.json" "$NPM_DIR/"
	(cd "$NPM_DIR" && npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) ||
		{ cat "$NPM_DIR/npm.log"; echo "FAIL npm ci of puppeteer-core"; exit 1; }
fi

t_init page
rand() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
ADMIN=$(rand) VIEWER=$(rand)
printf '%s admin alice\n%s viewer bob\n' "$ADMIN" "$VIEWER" >"$LAB_DIR/tokens"
T_CONF="http_listen = $LAB_VICTIM4:$PORT
http_tokens = $LAB_DIR/tokens
history = $LAB_DIR/history.db"
dosips_start
grep -q "serving /metrics and the page" "$LAB_DIR/dosips.log" || fail "no HTTP side"

mkdir -p "$SHOTS"
rm -f "$SHOTS"/page-*.png
lab_bg "$LAB_CLIENT" env NODE_PATH="$NPM_DIR/node_modules" node "$PAGE_DIR/page_test.js" \
	"http://$LAB_VICTIM4:$PORT/" "$ADMIN" "$VIEWER" "$LAB_ATTACKER4" "$SHOTS" "$LAB_DIR/attack.done" \
	>"$LAB_DIR/page.out" 2>&1
PAGE_PID=$LAB_LAST_PID
lab_wait 60 grep -q '^READY\|^FAIL' "$LAB_DIR/page.out" || fail "the page test did not start"
grep -q '^FAIL' "$LAB_DIR/page.out" && { cat "$LAB_DIR/page.out"; fail "the page test failed"; }
ok "Chromium shows the page with the admin token"

A_PROTO=udp
FLOOD_COUNT=${FLOOD_COUNT_PAGE:-60000} attack_flood4 udp_flood -2 -p "$LAB_UDP_PORT" -d 32
touch "$LAB_DIR/attack.done"
# The kernel's ban is lifted by the admin from the page: watch for it.
_i=0
while kill -0 "$PAGE_PID" 2>/dev/null && [ $_i -lt 900 ]; do
	if [ -z "${KERNEL_UNBAN:-}" ] && grep -q '^VIEWER_UNBAN' "$LAB_DIR/page.out" &&
	   ! ban_has ban4 "$LAB_ATTACKER4"; then
		KERNEL_UNBAN=$(date +%s.%N)
	fi
	sleep 0.1; _i=$((_i + 1))
done
wait "$PAGE_PID"; _st=$?
lab_forget "$PAGE_PID"
sed 's/^/     page: /' "$LAB_DIR/page.out"
[ "$_st" -eq 0 ] || bad "the page test exited with $_st"
val() { sed -n "s/^$1 //p" "$LAB_DIR/page.out" | head -n 1; }

[ "$(val TOKENLESS)" = 401 ] && ok "without a token, off loopback: 401" ||
	bad "without a token, off loopback: '$(val TOKENLESS)', want 401"
_seen=$(val BAN_SEEN)
if [ -n "$_seen" ] && [ -n "$A_TBAN" ]; then
	_lag=$(ms "$A_TBAN" "$_seen")
	awk -v l="$_lag" 'BEGIN { exit !(l <= 1000) }' &&
		ok "the ban was on the page $_lag ms after nft monitor saw it (bound 1000 ms)" ||
		bad "the ban reached the page $_lag ms after the kernel had it (bound 1000 ms)"
else
	bad "the page never showed the ban of $LAB_ATTACKER4"
fi
set -- $(val CHART)
[ "${2:-0}" -gt "${1:-0}" ] && ok "the chart moved: $1 -> $2 packets in its window" ||
	bad "the chart did not move (${1:-?} -> ${2:-?})"
grep -q '^HISTORY_FOUND' "$LAB_DIR/page.out" && ok "the history filter finds the ban" ||
	bad "the history filter did not find the ban"
[ "$(val VIEWER_UNBAN)" = 403 ] && ok "a viewer's unban: 403" ||
	bad "a viewer's unban: '$(val VIEWER_UNBAN)', want 403"
[ -n "${KERNEL_UNBAN:-}" ] && ok "the admin's unban from the page took the element out of the kernel set" ||
	bad "after the admin's unban the kernel still holds $LAB_ATTACKER4"
val AUDIT | grep -q 'admin alice: unban' && ok "audit row: $(val AUDIT)" ||
	bad "no audit row naming the admin role: '$(val AUDIT)'"
grep -q 'bob (viewer): unban .*refused' "$LAB_DIR/dosips.log" && ok "the viewer's attempt is audited as refused" ||
	bad "the viewer's refused unban is not in the log"
for _s in page-desktop page-phone; do
	[ -s "$SHOTS/$_s.png" ] && ok "screenshot $SHOTS/$_s.png" || bad "no screenshot $_s.png"
done
dosips_stop
t_done
