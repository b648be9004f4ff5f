#!/bin/bash
# Benchmark: start-to-exit time of a one-off container running `true`,
# moat against its peers, side by side in one run (issue: Foundation).
# Everything runs inside a throw-away network namespace that plays the host
# (LAB.md), so moat's veth never appears in the machine's own namespace.
# Writes bench/results/start.md; bench/report.sh assembles docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-200}"
moat="$PWD/build/moat"
[ -x "$moat" ] || { echo "build moat first (cmake --build build)" >&2; exit 1; }
command -v hyperfine >/dev/null || ./scripts/deps.sh --bench

ns="moat-bench-$$"
state="$(mktemp -d /tmp/moat-bench.XXXXXX)"
out="$(mktemp -d /tmp/moat-bench-out.XXXXXX)"
cleanup() { nsenter --net=/run/netns/"$ns" "$moat" --state-dir "$state" down -q 2>/dev/null || true
            ip netns del "$ns" 2>/dev/null || true; rm -rf "$state" "$out"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
add "unshare (floor)" "unshare --fork --pid --mount --uts --ipc --net --mount-proc true"
add "moat run --network none" "$moat --state-dir $state run --rm --network none -- true"
# The user namespace's cost: the same without one (root inside = root outside).
add "moat run --network none --private-users no" "$moat --state-dir $state run --rm --network none --private-users no -- true"
add "moat run --network private" "$moat --state-dir $state run --rm --network private -- true"
command -v bwrap >/dev/null && add "bwrap" "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true"
if command -v systemd-nspawn >/dev/null && systemd-nspawn -q --register=no -D / --read-only --private-network true >/dev/null 2>&1; then
  add "systemd-nspawn" "systemd-nspawn -q --register=no -D / --read-only --private-network true"
fi

args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "nsenter --net=/run/netns/$ns ${cmds[$i]}"); done
nsenter --net=/run/netns/"$ns" true
hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/start.json" "${args[@]}" >&2

mkdir -p bench/results
python3 - "$out/start.json" > bench/results/start.md <<'PY'
import json, statistics, sys, subprocess
res = json.load(open(sys.argv[1]))["results"]
floor = statistics.median(res[0]["times"])
print("## Container start: one-off container running `true`\n")
print("`bench/start.sh`, %d runs each after 20 warm-ups, `hyperfine -N`, every command wrapped in"
      " `nsenter --net` of the same lab namespace (that wrapper's cost is in every row)." % len(res[0]["times"]))
print("Kernel %s, %s CPUs.\n" % (subprocess.check_output(["uname", "-r"], text=True).strip(),
                                   subprocess.check_output(["nproc"], text=True).strip()))
print("| command | median | p10 | p90 | ratio to floor |")
print("|---|---|---|---|---|")
for r in res:
    t = sorted(r["times"]); n = len(t)
    med = statistics.median(t)
    print("| %s | %.2f ms | %.2f ms | %.2f ms | %.2fx |" % (r["command"], med * 1e3, t[n // 10] * 1e3,
                                                          t[(9 * n) // 10] * 1e3, med / floor))
PY
cat bench/results/start.md
