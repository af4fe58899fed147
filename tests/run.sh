#!/bin/sh
# Runs every test layer of `make check` and closes with "N passed, M failed".
#   1. unit tests (cmocka), release and ASan+UBSan builds
#   2. replay tests: captures through `dosips -r ... --dry-run`
#   2b. man pages lint clean, README and dosips(8) cover the options
#   3. the tcpdump corpus replayed under ASan+UBSan: no crash, no report
#   4. fuzzers (libFuzzer) for a short bounded run each
#   5. lab tests in network namespaces (root only)
# TESTS="unit replay" limits the layers; FUZZ_SECONDS sets the fuzz budget.
set -u
cd "$(dirname "$0")/.."
TOP=$(pwd)
export TOP
LOGDIR=$TOP/build/test-logs
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
LAYERS=${TESTS:-unit replay docs corpus fuzz lab}
pass=0 fail=0 skip=0 failed=""

# run NAME CMD...: one test; its output goes to a log shown on failure.
run() {
	name=$1; shift
	ran=$((ran + 1))
	log=$LOGDIR/$(echo "$name" | tr '/ ' '__').log
	start=$(date +%s)
	if "$@" >"$log" 2>&1; then
		pass=$((pass + 1)); res=ok
	else
		st=$?
		if [ "$st" -eq 77 ]; then
			skip=$((skip + 1)); res=skipped
		else
			fail=$((fail + 1)); res=FAIL; failed="$failed $name"
		fi
	fi
	printf '%-8s %-40s %3ss\n' "$res" "$name" "$(( $(date +%s) - start ))"
	if [ "$res" = FAIL ]; then tail -n 40 "$log" | sed 's/^/    | /'; fi
	if [ "$res" = skipped ]; then tail -n 1 "$log" | sed 's/^/    | /'; fi
}

# empty LAYER: a layer that found nothing to run fails, so a tree that
# built no tests (or lost its scripts) can never pass.
empty() {
	fail=$((fail + 1)); failed="$failed $1"
	printf '%-8s %-40s\n' FAIL "$1: nothing to run"
}

for layer in $LAYERS; do
	echo "== $layer"
	ran=0
	case $layer in
	unit)
		for b in build/release/tests/test_* build/asan/tests/test_*; do
			[ -x "$b" ] && run "unit/${b#build/}" "$b"
		done ;;
	replay)
		for t in tests/replay/*.sh; do
			[ -e "$t" ] && run "replay/$(basename "$t" .sh)" sh "$t"
		done ;;
	docs)
		run docs/man-readme sh tests/docs.sh ;;
	corpus)
		run corpus/tcpdump-tests sh tests/corpus.sh ;;
	fuzz)
		for f in tests/fuzz/fuzz_*.c; do
			[ -e "$f" ] && run "fuzz/$(basename "$f" .c)" sh tests/fuzz.sh "$f"
		done ;;
	lab)
		for t in tests/lab/*.sh; do
			[ -e "$t" ] || continue
			case $t in */lib.sh|*/ns.sh) continue ;; esac
			run "lab/$(basename "$t" .sh)" sh "$t"
		done ;;
	*)
		echo "unknown layer $layer (unit replay docs corpus fuzz lab)" ;;
	esac
	[ "$ran" -gt 0 ] || empty "$layer"
done

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
