#!/bin/sh
# The README's first command: install build dependencies, build moat, and run
# the seed example (examples/hello.toml). So that running it in CI never
# touches this machine's real network, the example is brought up inside a
# throw-away network namespace that plays the host; on your own host you run
# `moat up -f examples/hello.toml` directly.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target moat >/dev/null

ns="moat-demo-$$"
state="$(mktemp -d /tmp/moat-demo.XXXXXX)"
cleanup() {
  nsenter --net=/run/netns/"$ns" ./build/moat --state-dir "$state" down -q 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
# nsenter joins only the network namespace (ip netns exec would also remount
# /sys and hide the cgroup2 mount that moat uses).
in_host() { nsenter --net=/run/netns/"$ns" "$@"; }

echo "\$ moat up -f examples/hello.toml"
in_host ./build/moat --state-dir "$state" up -f examples/hello.toml
echo "\$ moat status"
in_host ./build/moat --state-dir "$state" status
echo "\$ read a line from 10.171.1.2:12345   # what nc or curl --http0.9 would print"
for i in $(seq 50); do
  if out=$(in_host timeout 3 bash -c 'exec 3<>/dev/tcp/10.171.1.2/12345 && head -n1 <&3' 2>/dev/null); then
    echo "$out"
    break
  fi
  sleep 0.1
done
[ "${out:-}" = "Hello, world!" ] || { echo "demo failed: no greeting from 10.171.1.2:12345" >&2; exit 1; }
echo "\$ moat down"
in_host ./build/moat --state-dir "$state" down
