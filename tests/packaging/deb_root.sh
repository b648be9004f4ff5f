#!/bin/sh
# Run by deb_test.sh inside its private mount namespace (unshare -m): build the
# overlay root, install the .deb there, run the installed moat in a lab netns.
# Usage: deb_root.sh DEB SOURCE_DIR
set -eu
deb="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

base="$(mktemp -d /tmp/moat-deb-root.XXXXXX)"
ns="moat-deb-$$"
root="$base/merged"
state=/var/lib/moat-deb-test
cleanup() {
  if [ -x "$root/usr/bin/moat" ] && [ -e /run/netns/"$ns" ]; then
    nsenter --net=/run/netns/"$ns" chroot "$root" /usr/bin/moat --state-dir "$state" down -q 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  # The mounts die with this namespace; unmount anyway so that the temp
  # directory can go now.
  umount -R "$root" 2>/dev/null || true
  umount -R "$base" 2>/dev/null || true
  rm -rf "$base"
}
trap cleanup EXIT INT TERM

mount -t tmpfs -o mode=0755 moat-deb-test "$base"
mkdir "$base/upper" "$base/work" "$root"
mount -t overlay moat-deb-root -o lowerdir=/,upperdir="$base/upper",workdir="$base/work" "$root"
# The kernel's file systems, as the host sees them (moat needs cgroup2 under
# /sys/fs/cgroup and /proc); /run and /tmp empty and private.
for d in proc sys dev; do mount --rbind /"$d" "$root/$d"; done
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" "$@"; }

echo "# dpkg -i $(basename "$deb") (throw-away root)"
in_root dpkg -i "/tmp/$(basename "$deb")"
in_root dpkg -s moat | grep -q '^Status: install ok installed' || fail "moat not installed in the root"
in_root /usr/bin/moat version
example=/usr/share/doc/moat/examples/hello.toml
[ -f "$root$example" ] || fail "no $example in the package"
for name in spiped spipe; do
  [ ! -e "$root/usr/bin/$name" ] || in_root dpkg -S "/usr/bin/$name" | grep -vq '^moat:' ||
    fail "the package ships /usr/bin/$name"
done

# The hello example, from the installed files, in a lab namespace that plays the host.
ip netns add "$ns"
ip -n "$ns" link set lo up
in_lab() { nsenter --net=/run/netns/"$ns" chroot "$root" "$@"; }
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
left="$(find "$root$state" -name '*.json' 2>/dev/null | head -n5)"
[ -z "$left" ] || fail "records left in the state dir: $left"
links="$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | grep -v '^lo$' || true)"
[ -z "$links" ] || fail "links left in $ns: $links"
echo "hello example OK from the installed package"
