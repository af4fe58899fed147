#!/bin/sh
# The command line as a person meets it, on a replay (no root, no
# firewall): -v says more than the default, and the set-up steps it names
# are the ones taken.
set -u
. "$TOP/tests/common.sh"
BIN=$TOP/build/release/dosips
CAP=$TOP/tests/captures/benign.pcap
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$BIN" -c /dev/null -w /dev/null -r "$CAP" --dry-run >"$T/quiet" 2>&1
"$BIN" -v -c /dev/null -w /dev/null -r "$CAP" --dry-run >"$T/verbose" 2>&1
check "without -v no debug line" sh -c "! grep -q 'debug:' '$T/quiet'"
check "-v names the configuration read" grep -q "debug: configuration: /dev/null" "$T/verbose"
check "-v gives the whitelist's size" grep -q "debug: whitelist: [0-9]* entries" "$T/verbose"
check "-v adds lines, keeps the rest" \
	[ "$(grep -vc 'debug:' "$T/verbose")" -eq "$(wc -l <"$T/quiet")" ]
# dosipsctl speaks to a socket: it needs neither capture nor netlink.
libs=$(ldd "$TOP/build/release/dosipsctl")
check "dosipsctl links no libpcap, libnftnl or libmnl" \
	sh -c "! echo '$libs' | grep -q -e libpcap -e libnftnl -e libmnl"
[ "$T_FAILED" -eq 0 ] || { cat "$T/verbose"; exit 1; }
