#!/bin/sh
# Replays every capture of tcpdump's test suite (many deliberately broken)
# through the ASan+UBSan build: each must end with status 0 (replayed) or 1
# (not a capture libpcap can open), and no sanitizer may speak.
set -u
. "$TOP/tests/common.sh"
CORPUS=$(corpus_dir) || exit $?
BIN=$TOP/build/asan/dosips
export ASAN_OPTIONS=detect_leaks=1:exitcode=99 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=0 replayed=0 unreadable=0 bad=0
for f in "$CORPUS"/*; do
	case $f in *.pcap|*.pcapng|*.cap|*.pcap.gz) ;; *) continue ;; esac
	n=$((n + 1))
	"$BIN" -c /dev/null -w /dev/null -r "$f" --dry-run --events /dev/null >"$out" 2>&1
	st=$?
	if grep -q -e 'Sanitizer' -e 'runtime error' "$out" || [ "$st" -gt 1 ]; then
		bad=$((bad + 1))
		echo "FAIL ($st): $f"; tail -n 20 "$out"
	elif [ "$st" -eq 0 ]; then
		replayed=$((replayed + 1))
	else
		unreadable=$((unreadable + 1))
	fi
done
echo "corpus: $n captures, $replayed replayed, $unreadable refused by libpcap (not a capture), $bad failed"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
