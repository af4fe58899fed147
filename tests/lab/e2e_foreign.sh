#!/bin/sh
# e2e_foreign.sh - dosips changes nothing that is not its own, and nothing
# at all before its arguments are known good: an operator's table of the
# same name is neither adopted, changed nor deleted (--flush); a ban set
# made for a smaller set_size is refused; `-i nosuch0` and a replay leave
# the ruleset as it was. One namespace of our own with a veth pair; needs
# root.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/tests/common.sh"
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft timeout; do
	command -v $t >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
BIN=${DOSIPS_BUILD:-$TOP/build/release}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
[ -x "$BIN/dosips" ] || { echo "FAIL no $BIN/dosips: build first (make)"; exit 1; }

NS=dosfr-$$
T=$(mktemp -d /tmp/dosips-foreign.XXXXXX)
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
ip netns add "$NS" || exit 1
ip -n "$NS" link add v0 type veth peer name v1 || exit 1
ip -n "$NS" addr add 198.18.0.1/24 dev v0
for l in lo v0 v1; do ip -n "$NS" link set "$l" up; done
in_ns() { ip netns exec "$NS" "$@"; }
printf 'control_socket = %s/ctl.sock\nwhitelist = %s/none\n' "$T" "$T" >"$T/dosips.conf"
# dosips_once ARGS...: runs dosips to its end (bounded), output in $T/out.
dosips_once() { in_ns timeout 10 "$BIN/dosips" -c "$T/dosips.conf" "$@" >"$T/out" 2>&1; }
ruleset() { in_ns nft list ruleset; }
same_ruleset() { ruleset | cmp -s - "$T/before"; }

# -- the operator's own table of that name: its SSH and established accepts
in_ns nft -f - <<-'EOF' || exit 1
table inet dosips {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		tcp dport 22 accept
	}
}
EOF
ruleset >"$T/before"
dosips_once -i v0
st=$?
check "dosips refuses to adopt the operator's table inet dosips (status $st)" test "$st" -ne 0
check "with a clear error: $(tail -n 1 "$T/out")" grep -q "not made by dosips" "$T/out"
check "the operator's table is left exactly as it was" same_ruleset
dosips_once -i v0 --flush
check "dosips --flush refuses to delete it: $(tail -n 1 "$T/out")" grep -q "refusing to delete" "$T/out"
check "and it is still there, unchanged" same_ruleset
in_ns nft delete table inet dosips

# -- table = naming another table of the operator's
in_ns nft add table inet mine
in_ns nft add chain inet mine input '{ type filter hook input priority 0; policy accept; }'
in_ns nft add rule inet mine input tcp dport 22 accept
ruleset >"$T/before"
printf 'table = mine\n' >>"$T/dosips.conf"
dosips_once -i v0
check "table = mine (the operator's): refused" grep -q "table inet mine exists and was not made by dosips" "$T/out"
check "table inet mine unchanged" same_ruleset
sed -i '/^table = mine$/d' "$T/dosips.conf"
in_ns nft delete table inet mine

# -- nothing is changed before the arguments are known good
ruleset >"$T/before"
dosips_once -i nosuch0
st=$?
check "dosips -i nosuch0 fails (status $st): $(tail -n 1 "$T/out")" test "$st" -ne 0
check "and has created nothing" same_ruleset
dosips_once -r "$TOP/tests/captures/hping3-syn-flood.pcap"
check "a replay without --dry-run says it implies it" grep -q "dry-run implied" "$T/out"
check "and touches no firewall" same_ruleset

# -- dosips's own table: marked, adopted again, removed by --flush
printf 'set_size = 64\nmax_bans = 64\n' >>"$T/dosips.conf"
ip netns exec "$NS" "$BIN/dosips" -c "$T/dosips.conf" -i v0 >"$T/run" 2>&1 &
pid=$!
i=0
while ! grep -q watching "$T/run" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
check "dosips makes its own table, marked as its own" sh -c \
	"ip netns exec $NS nft list table inet dosips | grep -q 'comment \"managed by dosips'"
kill -TERM "$pid"; wait "$pid"; pid=""
# -- a ban set made for a smaller set_size
ruleset >"$T/before"
sed -i 's/^set_size = 64$/set_size = 1024/; s/^max_bans = 64$/max_bans = 1024/' "$T/dosips.conf"
dosips_once -i v0
check "a ban set too small for set_size is refused: $(tail -n 1 "$T/out")" \
	grep -q "holds at most 128 elements, set_size 1024 needs 2048" "$T/out"
check "and left as it was" same_ruleset
dosips_once -i v0 --flush
check "dosips --flush removes its own table" sh -c "! ip netns exec $NS nft list table inet dosips >/dev/null 2>&1"

echo "$T_PASS passed, $T_FAIL failed"
[ "$T_FAIL" -eq 0 ]
