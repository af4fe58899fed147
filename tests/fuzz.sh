#!/bin/sh
# fuzz.sh FUZZER.c: builds one libFuzzer target in the Makefile's fuzz tree
# (clang, ASan + UBSan, every module) and runs it for FUZZ_SECONDS (default
# 20) from its seed corpus, if any (tests/fuzz/NAME/). Fails on any crash,
# leak or sanitizer report.
set -eu
name=$(basename "$1" .c)
O=$TOP/build/fuzz
make -C "$TOP" --no-print-directory BUILD=fuzz "build/fuzz/fuzz/$name"
mkdir -p "$O/$name.corpus"
seeds=$TOP/tests/fuzz/$name
[ -d "$seeds" ] || seeds=
"$O/fuzz/$name" -max_total_time="${FUZZ_SECONDS:-20}" -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix="$O/$name-" -error_exitcode=1 \
	-print_final_stats=1 "$O/$name.corpus" $seeds
