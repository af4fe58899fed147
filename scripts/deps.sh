#!/bin/sh
# Install what dosips needs to build, run and test on Debian/Ubuntu.
# Idempotent: packages already present are skipped without touching apt.
set -eu

PKGS="build-essential pkg-config libpcap-dev libev-dev libmnl-dev libnftnl-dev
libcap-ng-dev libcmocka-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev sqlite3
libmicrohttpd-dev nftables iproute2 tcpdump hping3 nmap
netcat-openbsd netsniff-ng valgrind clang libclang-rt-dev mandoc procps curl crowdsec gobgpd logrotate
msmtp msmtp-mta python3 python3-aiosmtpd prometheus chromium nodejs"
# npm: Debian's package, unless a nodejs that bundles it is installed.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install:$missing (run with sudo)" >&2
	exit 1
fi
echo "deps: installing:$missing"
# crowdsec's postinst registers with the Central API unless its credentials
# file is there and not empty: the tests use a Local API alone, offline.
case " $missing " in *" crowdsec "*)
	mkdir -p /etc/crowdsec
	[ -s /etc/crowdsec/online_api_credentials.yaml ] ||
		echo "# no Central API: dosips runs the Local API alone" \
			>/etc/crowdsec/online_api_credentials.yaml ;;
esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
