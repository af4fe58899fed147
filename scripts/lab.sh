#!/bin/sh
# lab.sh - a throwaway network lab for dosips: three hosts on one bridge,
# each in its own network namespace, torn down whatever happens.
#
#   attacker  198.18.0.3  2001:db8:0:2::3, ::4 ─┐
#   client    198.18.0.2  2001:db8:0:3::2       ─┼─ br0 (namespace PFX-br)
#   victim    198.18.0.1  2001:db8:0:1::1       ─┘  eth0: TCP 8080, UDP 53
#
# One IPv4 /24 and one on-link IPv6 /48 in which each host has a /64 of its
# own, so a /64 ban of the attacker never covers the client. Every
# namespace is named PFX-ROLE with PFX = dl<pid> by default: parallel runs
# do not collide, and `lab.sh clean` knows a leftover by its creator being
# gone. The UDP service is openbsd nc, which spins on an empty datagram:
# send it at least one byte. Nothing here touches the root namespace's
# interfaces or nftables: links are created inside the namespaces (ip -n),
# never in the caller's.
#
# As a library (tests/lab/lib.sh, scripts/demo.sh):
#	LAB_LIB=1 . scripts/lab.sh; lab_init; lab_trap; lab_up; lab_services
#	lab_exec "$LAB_VICTIM" nft list ruleset
# As a command:
#	sh scripts/lab.sh shell     a lab and a shell in it ($LAB_* exported)
#	sh scripts/lab.sh check     build a lab, prove it works, tear it down
#	sh scripts/lab.sh list      lab namespaces on this host
#	sh scripts/lab.sh clean [PFX] remove labs (or lab PFX) whose creator has exited

LAB_IFACE=eth0
LAB_TCP_PORT=8080
LAB_UDP_PORT=53
LAB_VICTIM4=198.18.0.1
LAB_CLIENT4=198.18.0.2
LAB_ATTACKER4=198.18.0.3
LAB_VICTIM6=2001:db8:0:1::1
LAB_CLIENT6=2001:db8:0:3::2
LAB_ATTACKER6=2001:db8:0:2::3
# A second address in the attacker's /64: the prefix ban must cover it too.
LAB_ATTACKER6B=2001:db8:0:2::4
LAB_ATTACKER6_NET=2001:db8:0:2::/64

# lab_init [PFX]: names this lab's namespaces and its scratch directory.
lab_init() {
	LAB_PFX=${1:-dl$$}
	LAB_BRIDGE=$LAB_PFX-br
	LAB_VICTIM=$LAB_PFX-victim
	LAB_CLIENT=$LAB_PFX-client
	LAB_ATTACKER=$LAB_PFX-attacker
	LAB_NAMESPACES="$LAB_VICTIM $LAB_CLIENT $LAB_ATTACKER $LAB_BRIDGE"
	LAB_PIDS=""
	if [ -z "${LAB_DIR:-}" ]; then
		LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dosips-lab.XXXXXX") || return 1
		LAB_OWN_DIR=1
	fi
	export LAB_PFX LAB_DIR LAB_IFACE LAB_VICTIM LAB_CLIENT LAB_ATTACKER LAB_BRIDGE
	export LAB_VICTIM4 LAB_CLIENT4 LAB_ATTACKER4 LAB_VICTIM6 LAB_CLIENT6 LAB_ATTACKER6
	export LAB_ATTACKER6B LAB_TCP_PORT LAB_UDP_PORT
}

lab_log() {
	[ -n "${LAB_QUIET:-}" ] || echo "lab: $*" >&2
}

# lab_exec NS CMD...: runs CMD inside namespace NS.
lab_exec() {
	_ns=$1; shift
	ip netns exec "$_ns" "$@"
}

# lab_bg NS CMD...: starts CMD inside NS in the background; its pid is in
# $LAB_LAST_PID and lab_down ends it.
lab_bg() {
	_ns=$1; shift
	ip netns exec "$_ns" "$@" &
	LAB_LAST_PID=$!
	LAB_PIDS="$LAB_PIDS $LAB_LAST_PID"
}

# lab_ours PID: PID runs in one of this lab's namespaces or is a child of
# this shell, so a pid reused by someone else's process is never signalled.
lab_ours() {
	_id=$(ip netns identify "$1" 2>/dev/null)
	if [ -n "$_id" ]; then
		case " $LAB_NAMESPACES " in *" $_id "*) return 0 ;; esac
	fi
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]
}

# lab_kill PID...: ends processes this lab started (TERM, then KILL) and
# forgets them.
lab_kill() {
	_mine=""
	for _p in "$@"; do
		lab_ours "$_p" && _mine="$_mine $_p" && kill -TERM "$_p" 2>/dev/null
		lab_forget "$_p"
	done
	for _p in $_mine; do
		_i=0
		while lab_alive "$_p" && [ $_i -lt 20 ]; do
			sleep 0.05; _i=$((_i + 1))
		done
		lab_alive "$_p" && kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	return 0
}

# lab_alive PID: PID runs (a zombie waiting to be reaped does not).
lab_alive() {
	_st=$(ps -o stat= -p "$1" 2>/dev/null)
	[ -n "$_st" ] && [ "$_st" = "${_st#Z}" ]
}

# lab_forget PID: PID has ended and was waited for: lab_down leaves it alone.
lab_forget() {
	LAB_PIDS=$(echo " $LAB_PIDS " | sed "s/ $1 / /")
}

# Quiet, predictable hosts: no DAD delay, no router solicitations.
lab_ns_add() {
	ip netns add "$1" || return 1
	ip -n "$1" link set lo up
	ip netns exec "$1" sh -c '
		for k in all default; do
			echo 0 >/proc/sys/net/ipv6/conf/$k/accept_dad
			echo 0 >/proc/sys/net/ipv6/conf/$k/router_solicitations
			echo 0 >/proc/sys/net/ipv6/conf/$k/accept_ra
		done' 2>/dev/null
	return 0
}

# lab_host NS PORT V4 V6: a host whose eth0 is plugged into the bridge as PORT.
lab_host() {
	ip -n "$1" link add "$LAB_IFACE" type veth peer name "$2" netns "$LAB_BRIDGE" &&
	ip -n "$LAB_BRIDGE" link set "$2" master br0 up &&
	ip -n "$1" addr add "$3/24" dev "$LAB_IFACE" &&
	ip -n "$1" addr add "$4/48" dev "$LAB_IFACE" nodad &&
	ip -n "$1" link set "$LAB_IFACE" up
}

# lab_up: creates the namespaces, the bridge and the three hosts.
lab_up() {
	for _ns in $LAB_NAMESPACES; do
		if [ -e "/run/netns/$_ns" ]; then
			echo "lab: namespace $_ns exists already" >&2
			return 1
		fi
	done
	LAB_CREATED=1
	for _ns in $LAB_NAMESPACES; do
		lab_ns_add "$_ns" || return 1
	done
	# The bridge only switches frames: no IPv6 of its own, no STP wait.
	lab_exec "$LAB_BRIDGE" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
	ip -n "$LAB_BRIDGE" link add br0 type bridge stp_state 0 forward_delay 0 \
		mcast_snooping 0 || return 1
	ip -n "$LAB_BRIDGE" link set br0 up || return 1
	lab_host "$LAB_VICTIM" vic "$LAB_VICTIM4" "$LAB_VICTIM6" || return 1
	lab_host "$LAB_CLIENT" cli "$LAB_CLIENT4" "$LAB_CLIENT6" || return 1
	lab_host "$LAB_ATTACKER" att "$LAB_ATTACKER4" "$LAB_ATTACKER6" || return 1
	ip -n "$LAB_ATTACKER" addr add "$LAB_ATTACKER6B/48" dev "$LAB_IFACE" nodad || return 1
	lab_log "up: $LAB_NAMESPACES"
}

# lab_services: a TCP service (v4 and v6) and a UDP service in the victim.
# The TCP one appends what clients send to $LAB_DIR/tcp.out.
lab_services() {
	lab_bg "$LAB_VICTIM" nc -4 -lk "$LAB_VICTIM4" "$LAB_TCP_PORT" >>"$LAB_DIR/tcp.out" 2>/dev/null </dev/null
	lab_bg "$LAB_VICTIM" nc -6 -lk "$LAB_VICTIM6" "$LAB_TCP_PORT" >>"$LAB_DIR/tcp.out" 2>/dev/null </dev/null
	lab_bg "$LAB_VICTIM" nc -4 -lku "$LAB_VICTIM4" "$LAB_UDP_PORT" >/dev/null 2>&1 </dev/null
	lab_wait 5 lab_reach "$LAB_CLIENT" "$LAB_VICTIM4" ||
		{ echo "lab: TCP service not reachable from the client" >&2; return 1; }
	lab_wait 5 lab_reach "$LAB_CLIENT" "$LAB_VICTIM6" ||
		{ echo "lab: IPv6 TCP service not reachable from the client" >&2; return 1; }
}

# lab_wait SECONDS CMD...: retries CMD every 50 ms until it succeeds or time
# runs out.
lab_wait() {
	_deadline=$(( $(date +%s) + $1 )); shift
	until "$@"; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 0.05
	done
}

# lab_reach NS ADDR [SRC]: a TCP handshake from NS to the victim's service
# (from source address SRC if given) completes within a second.
lab_reach() {
	if [ -n "${3:-}" ]; then
		lab_exec "$1" nc -z -w 1 -s "$3" "$2" "$LAB_TCP_PORT" 2>/dev/null
	else
		lab_exec "$1" nc -z -w 1 "$2" "$LAB_TCP_PORT" 2>/dev/null
	fi
}

# lab_mac NS: the MAC address of NS's eth0.
lab_mac() {
	ip -n "$1" -br link show "$LAB_IFACE" | awk '{ print $3 }'
}

# lab_send NS ADDR TEXT: sends a line to the TCP service; true once the
# victim's service has received it (data reached the socket, not just SYN).
lab_send() {
	echo "$3" | lab_exec "$1" nc -N -w 2 "$2" "$LAB_TCP_PORT" 2>/dev/null || return 1
	lab_wait 2 grep -qx "$3" "$LAB_DIR/tcp.out"
}

# lab_down: ends what the lab started and deletes its namespaces. Safe to
# call twice and after a partial lab_up.
lab_down() {
	[ -n "${LAB_PFX:-}" ] || return 0
	# shellcheck disable=SC2086
	[ -z "$LAB_PIDS" ] || lab_kill $LAB_PIDS
	LAB_PIDS=""
	if [ -n "${LAB_CREATED:-}" ]; then
		for _ns in $LAB_NAMESPACES; do
			[ -e "/run/netns/$_ns" ] || continue
			# Anything still inside was started by this lab.
			# shellcheck disable=SC2046
			lab_kill $(ip netns pids "$_ns" 2>/dev/null)
			ip netns del "$_ns" 2>/dev/null
		done
		lab_log "down: $LAB_PFX"
	fi
	LAB_CREATED=""
	if [ -n "${LAB_OWN_DIR:-}" ] && [ -z "${LAB_KEEP:-}" ]; then
		rm -rf "$LAB_DIR"
		LAB_OWN_DIR=""
	fi
	return 0
}

# lab_trap: tears the lab down on any exit; HUP/INT/TERM exit so EXIT runs.
# (SIGKILL cannot be caught: `lab.sh clean` removes what such a run left.)
lab_trap() {
	trap 'lab_down' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# lab_check: the lab is what it claims to be. Prints one line per fact.
lab_check() {
	lab_reach "$LAB_CLIENT" "$LAB_VICTIM4" || { echo "FAIL client -> victim TCP/IPv4"; return 1; }
	lab_reach "$LAB_CLIENT" "$LAB_VICTIM6" || { echo "FAIL client -> victim TCP/IPv6"; return 1; }
	lab_reach "$LAB_ATTACKER" "$LAB_VICTIM4" || { echo "FAIL attacker -> victim TCP/IPv4"; return 1; }
	lab_reach "$LAB_ATTACKER" "$LAB_VICTIM6" "$LAB_ATTACKER6B" ||
		{ echo "FAIL attacker (second /64 address) -> victim TCP/IPv6"; return 1; }
	lab_send "$LAB_CLIENT" "$LAB_VICTIM4" "lab-check-$$" || { echo "FAIL data to the TCP service"; return 1; }
	echo "ok   client and attacker reach the victim's service over IPv4 and IPv6"
	lab_exec "$LAB_CLIENT" hping3 -q -2 -d 16 -c 3 -i u10000 -p "$LAB_UDP_PORT" "$LAB_VICTIM4" >/dev/null 2>&1
	_u=$(lab_snmp "$LAB_VICTIM" Udp InDatagrams)
	[ "$_u" -ge 3 ] || { echo "FAIL UDP service received $_u datagrams, want 3"; return 1; }
	echo "ok   UDP service on port $LAB_UDP_PORT received $_u datagrams"
}

# lab_snmp NS GROUP FIELD: one counter of /proc/net/snmp (or snmp6 when
# GROUP is empty and FIELD is e.g. Udp6InDatagrams) inside NS.
lab_snmp() {
	if [ -z "$2" ]; then
		lab_exec "$1" awk -v f="$3" '$1 == f { print $2; exit }' /proc/net/snmp6
		return
	fi
	lab_exec "$1" awk -v g="$2:" -v f="$3" '
		$1 == g && !hdr { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
		$1 == g && hdr { print $col[f]; exit }' /proc/net/snmp
}

lab_main() {
	case ${1:-} in
	shell|check)
		[ "$(id -u)" -eq 0 ] || { echo "lab: needs root" >&2; exit 1; }
		lab_init
		lab_trap
		lab_up && lab_services || exit 1
		if [ "$1" = check ]; then
			lab_check
			exit
		fi
		echo "lab $LAB_PFX: \$LAB_VICTIM \$LAB_CLIENT \$LAB_ATTACKER, files in \$LAB_DIR;" \
			"e.g. ip netns exec \$LAB_ATTACKER hping3 ... ; exit to tear down"
		${SHELL:-sh} -i
		;;
	list)
		ip netns list | awk '$1 ~ /^dl[0-9]+-(br|victim|client|attacker)$/ { print $1 }'
		;;
	clean)
		for _ns in $(lab_main list); do
			_pfx=${_ns%%-*}; _pid=${_pfx#dl}
			[ -z "${2:-}" ] || [ "$2" = "$_pfx" ] || continue
			kill -0 "$_pid" 2>/dev/null && continue
			# shellcheck disable=SC2046
			lab_kill $(ip netns pids "$_ns" 2>/dev/null)
			ip netns del "$_ns" && echo "removed $_ns"
		done
		;;
	*)
		echo "usage: sh scripts/lab.sh shell|check|list|clean [PFX]" >&2
		exit 2
		;;
	esac
}

# Run as a command unless sourced (tests and the demo set LAB_LIB=1).
[ -n "${LAB_LIB:-}" ] || lab_main "$@"
