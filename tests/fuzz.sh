#!/bin/sh
# fuzz.sh FUZZER.c: builds one libFuzzer target against every module (ASan +
# UBSan) and runs it for FUZZ_SECONDS (default 20) from its seed corpus, if
# any (tests/fuzz/NAME/). Fails on any crash, leak or sanitizer report.
set -eu
src=$1
name=$(basename "$src" .c)
O=$TOP/build/fuzz
mkdir -p "$O/obj" "$O/$name.corpus"
CFLAGS="-g -O1 -std=gnu11 -I$TOP/include -D_GNU_SOURCE -DSYSCONFDIR=\"/etc\" -DDOSIPS_VERSION=\"fuzz\""
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
objs=""
for c in "$TOP"/src/*.c; do
	case $(basename "$c") in main.c|dosipsctl.c) continue ;; esac
	o=$O/obj/$(basename "$c" .c).o
	if [ ! -e "$o" ] || [ "$c" -nt "$o" ]; then
		# shellcheck disable=SC2086
		clang $CFLAGS $SAN -fsanitize=fuzzer-no-link $(pkg-config --cflags libnftnl libmnl json-c) -c "$c" -o "$o"
	fi
	objs="$objs $o"
done
# shellcheck disable=SC2086
clang $CFLAGS $SAN -fsanitize=fuzzer "$src" $objs -o "$O/$name" \
	$(pkg-config --libs libpcap libmnl libnftnl libcap-ng json-c) -lev
seeds=$TOP/tests/fuzz/$name
[ -d "$seeds" ] || seeds=
"$O/$name" -max_total_time="${FUZZ_SECONDS:-20}" -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix="$O/$name-" \
	-print_final_stats=1 "$O/$name.corpus" $seeds
