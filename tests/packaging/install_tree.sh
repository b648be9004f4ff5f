#!/bin/sh
# Theory of operation: `cmake --install` of the build under test into a
# throw-away staging directory (DESTDIR, and once with --prefix), then the
# installed tree is checked: bin/moat runs (`moat version`), the example
# configuration is under the doc dir, and the spiped/spipe links exist exactly
# when MOAT_INSTALL_SPIPED_LINKS is on (a configure-only tree with the option on and the build's binary;
# nothing is compiled). Only files this project's
# own install rules (cmake/install.cmake) put there are checked, so other
# parts may add files to the tree freely.
# Usage: install_tree.sh SOURCE_DIR BUILD_DIR MOAT_BINARY (the moat target's file)
set -eu
src="$1"
build="$2"
moat_bin="$3"
stage="$(mktemp -d /tmp/moat-install-test.XXXXXX)"
trap 'rm -rf "$stage"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. DESTDIR with the build's own prefix (what a packager does).
prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")"
DESTDIR="$stage/destdir" cmake --install "$build" >/dev/null
root="$stage/destdir$prefix"
[ -x "$root/bin/moat" ] || fail "no $root/bin/moat"
out="$("$root/bin/moat" version)" || fail "installed moat version failed"
echo "installed: $out"
[ -f "$root/share/doc/moat/examples/hello.toml" ] || fail "no example under share/doc/moat/examples"
for name in spiped spipe; do
  [ ! -e "$root/bin/$name" ] && [ ! -L "$root/bin/$name" ] || fail "$name installed with MOAT_INSTALL_SPIPED_LINKS off"
done

# 2. --prefix at install time, with the links on: a configure-only tree with
# the option on (the suite off, nothing compiled) gets the build's binary;
# nothing else is built there, so the man pages are off (docs_man_install
# checks theirs).
links="$stage/build-links"
cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
cmake -S "$src" -B "$links" -DCMAKE_CXX_COMPILER="$cxx" -DMOAT_TESTS=OFF -DMOAT_MAN=OFF \
  -DMOAT_INSTALL_SPIPED_LINKS=ON >/dev/null
rel="${moat_bin#"$build"/}"
mkdir -p "$links/$(dirname "$rel")"
cp "$moat_bin" "$links/$rel"
cmake --install "$links" --prefix "$stage/prefix" >/dev/null
p="$stage/prefix"
[ -x "$p/bin/moat" ] || fail "no bin/moat with --prefix"
for name in spiped spipe; do
  [ -L "$p/bin/$name" ] || fail "no $name link with MOAT_INSTALL_SPIPED_LINKS=ON"
  [ "$(readlink "$p/bin/$name")" = moat ] || fail "$name -> $(readlink "$p/bin/$name"), want moat"
done
# Invoked as spipe, moat is spipe: its usage names spipe.
"$p/bin/spipe" -h 2>&1 | grep -q spipe || fail "bin/spipe does not behave as spipe"
grep -q "$p/bin/spiped" "$links/install_manifest.txt" || fail "links missing from install_manifest.txt"
[ -f "$p/share/doc/moat/examples/hello.toml" ] || fail "no example with --prefix"
echo "install tree OK"
