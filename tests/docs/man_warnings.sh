#!/bin/sh
# Renders each built man page as man(1) would show it and through groff's
# own checker; any warning (a bad macro, an unknown escape, a line that
# cannot be adjusted) fails the test. Usage: man_warnings.sh PAGE...
set -u
status=0
for page in "$@"; do
  [ -s "$page" ] || { echo "FAIL: $page is missing or empty"; status=1; continue; }
  for width in 80; do
    out=$(MANWIDTH=$width MAN_KEEP_FORMATTING=1 man --warnings -l "$page" 2>&1 >/dev/null)
    if [ -n "$out" ]; then
      echo "FAIL: man --warnings -l $page (width $width):"; echo "$out"; status=1
    fi
  done
  out=$(groff -ww -z -man -t "$page" 2>&1)
  if [ -n "$out" ]; then
    echo "FAIL: groff -ww -z -man $page:"; echo "$out"; status=1
  fi
  [ $status -eq 0 ] && echo "ok: $page renders without warnings"
done
exit $status
