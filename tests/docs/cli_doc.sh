#!/bin/sh
# docs/moat.1.md documents the CLI the binary has: every subcommand that
# `moat --help` lists has a section "## moat SUB", every long flag of
# `moat SUB --help` appears in that section, and every "## moat SUB"
# section is a subcommand the binary has. The lists come from the binary
# itself (CLI11's help; spiped's usage text for pipe and spipe, which moat
# hands to its spiped personality), so nothing here can drift.
# Usage: cli_doc.sh MOAT_BINARY DOC
set -u
moat=$1 doc=$2
status=0
# Long flags at the start of CLI11's option lines ("  -f,--file TEXT ...").
long_flags() {
  sed -n 's/^  *\(-[A-Za-z0-9],\)*\(--[a-z][a-z0-9-]*\).*/\2/p' | grep -v '^--help$' | sort -u
}
section() {
  awk -v h="## moat $1" '$0 == h { on = 1; next } on && /^#/ { exit } on { print }' "$doc"
}
subs=$("$moat" --help | awk '/^Subcommands:/ { on = 1; next } on && /^[^ ]/ { on = 0 } on && NF { print $1 }')
[ -n "$subs" ] || { echo "FAIL: no subcommands in '$moat --help'"; exit 1; }
for flag in $("$moat" --help | long_flags); do
  grep -q -- "$flag" "$doc" || { echo "FAIL: global flag $flag is not in $doc"; status=1; }
done
for sub in $subs; do
  if ! grep -qx "## moat $sub" "$doc"; then
    echo "FAIL: subcommand '$sub' has no section '## moat $sub' in $doc"; status=1; continue
  fi
  case "$sub" in
    pipe|spipe) flags=$("$moat" "$sub" 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u) ;;
    *) flags=$("$moat" "$sub" --help | long_flags) ;;
  esac
  text=$(section "$sub")
  for flag in $flags; do
    printf '%s\n' "$text" | grep -q -- "$flag" || { echo "FAIL: moat $sub $flag is not in section '## moat $sub' of $doc"; status=1; }
  done
done
for documented in $(sed -n 's/^## moat \([a-z][a-z0-9-]*\)$/\1/p' "$doc"); do
  printf '%s\n' $subs | grep -qx "$documented" || { echo "FAIL: $doc documents 'moat $documented', which the binary does not have"; status=1; }
done
[ $status -eq 0 ] && echo "ok: $(printf '%s\n' $subs | wc -l) subcommands and their long flags are in $doc"
exit $status
