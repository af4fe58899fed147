#!/bin/sh
# The man pages render without a mandoc warning, the README still
# names the two set-up commands, and dosips(8) every long option of -h.
set -u
fail=0
for m in "$TOP"/man/*.[0-9]; do
	out=$(mandoc -T lint -W warning "$m" 2>&1)
	if [ -n "$out" ]; then echo "FAIL $m:"; echo "$out"; fail=1; else echo "ok   $(basename "$m")"; fi
done
for cmd in "make run" "make check"; do
	grep -q "$cmd" "$TOP/README.md" || { echo "FAIL README lacks $cmd"; fail=1; }
done
# mdoc writes --name as "Fl -name" (or ", -name" after a short option).
for opt in $("$TOP/build/release/dosips" -h | grep -o -- '--[a-z-]*' | sort -u); do
	grep -qE -- "(Fl |, )-${opt#--}( |$)" "$TOP/man/dosips.8" ||
		{ echo "FAIL dosips.8 lacks $opt"; fail=1; }
done
exit $fail
