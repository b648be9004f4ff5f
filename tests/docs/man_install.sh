#!/bin/sh
# `cmake --install` into a staging prefix puts the man pages where man(1)
# finds them. Usage: man_install.sh BUILD_DIR STAGING_DIR MANDIR
# (MANDIR: CMAKE_INSTALL_MANDIR relative to the prefix, e.g. share/man).
set -eu
build=$1 staging=$2 mandir=$3
rm -rf "$staging"
trap 'rm -rf "$staging"' EXIT
cmake --install "$build" --prefix "$staging" --component man >/dev/null
status=0
for want in "1 moat man1/moat.1" "5 moat.toml man5/moat.toml.5"; do
  set -- $want
  found=$(MANPATH="$staging/$mandir" man -w "$1" "$2" 2>&1) || true
  if [ "$found" = "$staging/$mandir/$3" ]; then
    echo "ok: man -w $1 $2 -> $found"
  else
    echo "FAIL: man -w $1 $2 gave '$found', wanted $staging/$mandir/$3"; status=1
  fi
done
# Without a section, `man moat` must find moat(1).
found=$(MANPATH="$staging/$mandir" man -w moat 2>&1) || true
[ "$found" = "$staging/$mandir/man1/moat.1" ] || { echo "FAIL: man -w moat gave '$found'"; status=1; }
exit $status
