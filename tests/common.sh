# common.sh - what the shell tests share; sourced, never run by itself.
#
#	TOP=...; . "$TOP/tests/common.sh"
#
# ok/bad/note print one verdict line each and keep counts (T_PASS, T_FAIL;
# T_FAILED is 1 once anything failed); check DESCRIPTION CMD... passes when
# CMD succeeds. corpus_dir finds tcpdump's test captures.

T_PASS=0 T_FAIL=0 T_FAILED=0

ok() { echo "ok   $*"; T_PASS=$((T_PASS + 1)); }
bad() { echo "FAIL $*"; T_FAIL=$((T_FAIL + 1)); T_FAILED=1; }
note() { echo "     $*"; }
check() { # DESCRIPTION COMMAND...
	_d=$1; shift
	if "$@"; then ok "$_d"; else bad "$_d"; fi
}

# corpus_dir: prints the tcpdump test-capture directory: $DOSIPS_CORPUS, or
# the one beside this checkout. Without one, exits the test as skipped
# (77), or as failed under CI=true, where the corpus is required.
corpus_dir() {
	_c=${DOSIPS_CORPUS:-$TOP/../shared/corpus/tcpdump-tests}
	if [ -d "$_c" ] && [ -n "$(ls "$_c" 2>/dev/null | head -n 1)" ]; then
		echo "$_c"
		return 0
	fi
	if [ "${CI:-}" = true ]; then
		echo "corpus not found: $_c (required under CI=true; set DOSIPS_CORPUS)" >&2
		exit 1
	fi
	echo "skipped: no tcpdump corpus at $_c; set DOSIPS_CORPUS to a tcpdump source tree's tests/" >&2
	exit 77
}
