#!/bin/sh
# Theory of operation: build moat's .deb from a COPY of the source tree (the
# checkout stays clean), lint it, and install it into a throw-away root: a
# private mount namespace (unshare -m) holding an overlayfs whose lower layer
# is the host's / (read-only to it) and whose upper layer is an empty tmpfs.
# `dpkg -i` runs there for real (dependency check, maintainer scripts), then
# the installed /usr/bin/moat runs `moat version` and brings the installed
# hello example up inside a lab network namespace (never the root netns,
# LAB.md), reads the greeting, takes it down and checks for residue. When the
# namespace's last process exits the tmpfs and everything dpkg wrote vanish;
# the host's dpkg database and /usr are compared before and after.
# Usage: deb_test.sh SOURCE_DIR WORK_DIR  (WORK_DIR: in the build tree, reused
# so that ccache sees the same paths from one run to the next).
set -eu
if [ "${MOAT_DEB_INNER:-}" = 1 ]; then
  exec sh "$(dirname "$0")/deb_root.sh" "$@"
fi
src="$(cd "$1" && pwd)"
work="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }

host_status_before="$(sha256sum /var/lib/dpkg/status)"
host_moat_before="$(dpkg-query -W -f='${Status}' moat 2>/dev/null || echo absent)"

# 1. A copy of the sources, without build trees or git metadata.
rm -rf "$work"
mkdir -p "$work/moat"
(cd "$src" && tar -c --exclude='./build*' --exclude='./obj-*' --exclude=./.git --exclude='./debian/moat' \
   --exclude='./debian/.debhelper' --exclude='./debian/tmp' .) | tar -x -C "$work/moat"
if command -v ccache >/dev/null; then
  # CMake takes its compiler launcher from the environment (3.17+).
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="$work"
fi
echo "dpkg-buildpackage -b -us -uc (in $work/moat)"
(cd "$work/moat" && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$work/build.log" 2>&1) ||
  { tail -n 40 "$work/build.log" >&2; fail "dpkg-buildpackage failed (log: $work/build.log)"; }
deb="$(ls "$work"/moat_*.deb | grep -v dbgsym | head -n1)"
[ -f "$deb" ] || fail "no .deb built"
echo "built $(basename "$deb")"
dpkg-deb -c "$deb"

# 2. lintian, warnings included. Its verdict is reported at the end, so that
# one run also shows whether the package installs and works.
lint=0
# Its own temporary files (an MLDBM cache per ELF file, /tmp/mldbm-elf-*)
# outlive it; they go into the work directory instead, and then away.
mkdir -p "$work/lintian-tmp"
TMPDIR="$work/lintian-tmp" lintian --fail-on error,warning --tag-display-limit 0 "$deb" || lint=1
rm -rf "$work/lintian-tmp"

# 3. The throw-away root, in a private mount namespace.
base="$(mktemp -d /tmp/moat-deb-root.XXXXXX)"
trap 'rm -rf "$base"' EXIT INT TERM
MOAT_DEB_INNER=1 unshare -m --propagation private sh "$0" "$deb" "$base"
rm -rf "$base"

# 4. The host did not change.
[ "$(sha256sum /var/lib/dpkg/status)" = "$host_status_before" ] || fail "the host's dpkg status file changed"
[ "$(dpkg-query -W -f='${Status}' moat 2>/dev/null || echo absent)" = "$host_moat_before" ] ||
  fail "the host's dpkg state of moat changed"
if [ "$host_moat_before" = absent ]; then
  ! dpkg -s moat >/dev/null 2>&1 || fail "moat is installed on the host"
  [ ! -e /usr/bin/moat ] || fail "/usr/bin/moat exists on the host"
  [ ! -e /usr/share/doc/moat ] || fail "/usr/share/doc/moat exists on the host"
fi
echo "host unchanged"
[ "$lint" = 0 ] || fail "lintian reported errors or warnings (above)"
echo "deb test OK"
