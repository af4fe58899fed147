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
# The notifier examples of README and dosips.conf(5) pass `dosips -n`, with
# their URL files made in a scratch directory.
ex=$(mktemp -d)
awk '/^    # \/etc\/dosips\/dosips.conf$/ { on = 1; next } /^    # echo/ { on = 0 }
     on { sub(/^    /, ""); print }' "$TOP/README.md" > "$ex/readme.conf"
awk '/^Notifiers, one of each type/ { want = 1 } want && /^\.Bd/ { on = 1; next }
     on && /^\.Ed/ { exit } on' "$TOP/man/dosips.conf.5" > "$ex/man.conf"
for c in readme man; do
	sed -i "s|/etc/dosips/|$ex/|" "$ex/$c.conf"
	for u in $(sed -n 's/^url_file = //p' "$ex/$c.conf"); do echo https://hooks.example/x > "$u"; done
	if [ "$(grep -c '^\[notify ' "$ex/$c.conf")" -lt 6 ]; then
		echo "FAIL no notifier example found in $c"; fail=1
	elif out=$("$TOP/build/release/dosips" -n -c "$ex/$c.conf" 2>&1); then
		echo "ok   the notifier examples of $c pass dosips -n"
	else
		echo "FAIL the notifier examples of $c: $out"; fail=1
	fi
done
rm -rf "$ex"
exit $fail
