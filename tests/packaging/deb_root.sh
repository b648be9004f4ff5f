#!/bin/sh
# Run by deb_test.sh inside its private mount namespace (unshare -m): build the
# overlay root, install the .deb there, run the installed moat in a lab netns.
# Everything here (the overlay, /run/netns of the lab) lives in this mount
# namespace only and goes when its last process exits.
# Usage: deb_root.sh DEB BASE (BASE: an empty directory the caller removes)
#
# The overlay becomes this namespace's root with pivot_root, not chroot: the
# kernel refuses new user namespaces (moat's containers, privateUsers) to a
# chrooted process (clone(2): EPERM when "the caller is in a chroot
# environment").
set -eu
deb="$1"
base="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }

ns="moat-deb-$$"
state=/var/lib/moat-deb-test
cleanup() {
  if [ -x /usr/bin/moat ] && [ -e /run/netns/"$ns" ]; then
    nsenter --net=/run/netns/"$ns" /usr/bin/moat --state-dir "$state" down -q 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
}

mount -t tmpfs -o mode=0755 moat-deb-test "$base"
root="$base/merged"
mkdir "$base/upper" "$base/work" "$root"
mount -t overlay moat-deb-root -o lowerdir=/,upperdir="$base/upper",workdir="$base/work" "$root"
# The kernel's file systems, as the host sees them (moat needs cgroup2 under
# /sys/fs/cgroup, and /proc); /run and /tmp empty and private.
for d in proc sys dev; do mount --rbind /"$d" "$root/$d"; done
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/"
mkdir "$root/.old-root"
cd "$root"
pivot_root . .old-root
cd /
umount -l /.old-root
trap cleanup EXIT INT TERM

echo "# dpkg -i $(basename "$deb") (throw-away root)"
dpkg -i "/tmp/$(basename "$deb")"
dpkg -s moat | grep -q '^Status: install ok installed' || fail "moat not installed in the root"
/usr/bin/moat version
example=/usr/share/doc/moat/examples/hello.toml
[ -f "$example" ] || fail "no $example in the package"
for name in spiped spipe; do
  [ ! -e "/usr/bin/$name" ] || dpkg -S "/usr/bin/$name" | grep -vq '^moat:' ||
    fail "the package ships /usr/bin/$name"
done

# The hello example, from the installed files, in a lab namespace that plays the host.
ip netns add "$ns"
ip -n "$ns" link set lo up
in_lab() { nsenter --net=/run/netns/"$ns" "$@"; }
in_lab /usr/bin/moat --state-dir "$state" up -f "$example"
out=""
for i in $(seq 50); do
  if out=$(nsenter --net=/run/netns/"$ns" timeout 3 bash -c 'exec 3<>/dev/tcp/10.171.1.2/12345 && head -n1 <&3' 2>/dev/null); then
    break
  fi
  sleep 0.1
done
[ "$out" = "Hello, world!" ] || fail "no greeting from the installed hello example (got '$out')"
echo "greeting: $out"
in_lab /usr/bin/moat --state-dir "$state" down
# Residue: no process in the lab namespace, no records in the state dir, no
# link but lo.
[ -z "$(ip netns pids "$ns")" ] || fail "processes left in $ns: $(ip netns pids "$ns")"
in_lab /usr/bin/moat --state-dir "$state" status
left="$(find "$state" -name '*.json' 2>/dev/null | head -n5)"
[ -z "$left" ] || fail "records left in the state dir: $left"
links="$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | grep -v '^lo$' || true)"
[ -z "$links" ] || fail "links left in $ns: $links"
echo "hello example OK from the installed package"
