#!/bin/bash
# Benchmark: start-to-exit time of a one-off container running `true`,
# moat against its peers, side by side in one run (issue: Foundation).
# Everything runs inside a throw-away network namespace that plays the host
# (LAB.md), so moat's veth never appears in the machine's own namespace.
# Writes bench/results/start.md; bench/report.sh assembles docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-200}"
# MOAT=path: the build to measure (default build/moat); BEFORE=path (or
# MOAT_BEFORE=path): an older build measured alongside, in the same rounds.
moat="$(realpath "${MOAT:-$PWD/build/moat}")"
BEFORE="${BEFORE:-${MOAT_BEFORE:-}}"
[ -z "$BEFORE" ] || BEFORE="$(realpath "$BEFORE")"
[ -x "$moat" ] || { echo "build moat first (cmake --build build)" >&2; exit 1; }
command -v hyperfine >/dev/null || ./scripts/deps.sh --bench
# Each build runs from COPIES fresh copies (default 3), one per round in
# turn. On the benchmark machine byte-identical copies of the binary
# differed by up to 1.9 ms a run: its page cache drops a file's pages and
# reads them back one by one, where `cp` wrote them in 64 KiB folios, so a
# copy's speed drifts with its age (docs/BENCHMARKS.md, issue 17). A build
# run from an older file than the other measured that, not the builds.
copies="${COPIES:-3}"

ns="moat-bench-$$"
# The state directory on a tmpfs, as moat's default /run/moat is on a
# systemd host: its records are written durably (state/store.hpp), and on
# a disk each fsync is a device flush (0.5-4 ms on the benchmark machine,
# whose /run and /tmp are ext4). One row keeps a disk-backed one to show it.
state="$(mktemp -d /dev/shm/moat-bench.XXXXXX)"
disk_state="$(mktemp -d /var/tmp/moat-bench.XXXXXX)"
out="$(mktemp -d /tmp/moat-bench-out.XXXXXX)"
# On a disk, as an installed binary is.
bins="$(mktemp -d /var/tmp/moat-bench-bin.XXXXXX)"
cleanup() { for s in "$state" "$disk_state"; do
              nsenter --net=/run/netns/"$ns" "$moat" --state-dir "$s" down -q 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true; rm -rf "$state" "$disk_state" "$out" "$bins"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
# The floor: the namespaces a moat container gets, nothing else (issue 17).
add "unshare (floor)" "unshare --fork --pid --mount --uts --ipc --net --cgroup -- true"
add "moat run --network none" "@MOAT@ --state-dir $state run --rm --network none -- true"
add "moat run --network none, state on disk" "@MOAT@ --state-dir $disk_state run --rm --network none -- true"
# The user namespace's cost: the same without one (root inside = root outside).
add "moat run --network none --private-users no" "@MOAT@ --state-dir $state run --rm --network none --private-users no -- true"
add "moat run --network private" "@MOAT@ --state-dir $state run --rm --network private -- true"
# BEFORE=/path/to/an/older/moat: the same two rows for that build, in the same run.
if [ -n "${BEFORE:-}" ]; then
  before_state="$(mktemp -d /dev/shm/moat-bench-before.XXXXXX)"
  trap 'nsenter --net=/run/netns/"$ns" "$BEFORE" --state-dir "$before_state" down -q 2>/dev/null || true
        rm -rf "$before_state"; cleanup' EXIT
  add "before: moat run --network none" "@BEFORE@ --state-dir $before_state run --rm --network none -- true"
  add "before: moat run --network private" "@BEFORE@ --state-dir $before_state run --rm --network private -- true"
fi
command -v bwrap >/dev/null && add "bwrap" "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true"
if command -v systemd-nspawn >/dev/null && systemd-nspawn -q --register=no -D / --read-only --private-network true >/dev/null 2>&1; then
  add "systemd-nspawn" "systemd-nspawn -q --register=no -D / --read-only --private-network true"
fi

for k in $(seq 1 "$copies"); do
  mkdir "$bins/$k"
  cp "$moat" "$bins/$k/moat"
  [ -z "$BEFORE" ] || cp "$BEFORE" "$bins/$k/moat-before"
done
# args_for ROUND: hyperfine's arguments, with that round's copies.
args_for() {
  local k=$(( ($1 - 1) % copies + 1 )) i cmd
  args=()
  for i in "${!names[@]}"; do
    cmd="${cmds[$i]//@MOAT@/$bins/$k/moat}"
    args+=(-n "${names[$i]}" "nsenter --net=/run/netns/$ns ${cmd//@BEFORE@/$bins/$k/moat-before}")
  done
}
nsenter --net=/run/netns/"$ns" true
# hyperfine runs all of one command's runs before the next command's, so a
# change in the machine's load lands on some rows only; in ROUNDS rounds
# of RUNS/ROUNDS runs each, every row samples every period alike.
rounds="${ROUNDS:-5}"
for r in $(seq 1 "$rounds"); do
  args_for "$r"
  hyperfine -N --warmup $((r == 1 ? 20 : 5)) --runs $((runs / rounds)) --export-json "$out/start-$r.json" "${args[@]}" >&2
done

mkdir -p bench/results
for i in "${!names[@]}"; do printf '%s\t%s\n' "${names[$i]}" "${cmds[$i]//$state/STATE}"; done |
  sed "s|$disk_state|DISK_STATE|g; s|${before_state:-/nonexistent}|BEFORE_STATE|g; s|@MOAT@|moat|g; s|@BEFORE@|BEFORE|g" > "$out/cmds.tsv"
COPIES="$copies" python3 - "$out/cmds.tsv" "$out"/start-*.json > bench/results/start.md <<'PY'
import json, os, statistics, sys, subprocess
cmds = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
rounds = [json.load(open(f))["results"] for f in sys.argv[2:]]
res = [{"command": r["command"], "times": [t for rr in rounds for t in rr[i]["times"]],
        # hyperfine gives CPU time as a mean per command: one value per round.
        "cpu": [rr[i]["user"] + rr[i]["system"] for rr in rounds]}
       for i, r in enumerate(rounds[0])]
floor = statistics.median(res[0]["times"])
print("## Container start: one-off container running `true`\n")
print("`bench/start.sh`, %d runs each in %d alternating rounds (20 warm-ups before the first),"
      " `hyperfine -N`, every command wrapped in"
      " `nsenter --net` of the same lab namespace (that wrapper's cost is in every row)."
      " moat's state directory is on a tmpfs (`/dev/shm`), as its default `/run/moat` is on a systemd"
      " host, except in the \"state on disk\" row (ext4, `/var/tmp`). Each build runs from %s fresh"
      " copies on ext4, one per round in turn." % (len(res[0]["times"]), len(rounds), os.environ["COPIES"]))
print("Kernel %s, %s CPUs.\n" % (subprocess.check_output(["uname", "-r"], text=True).strip(),
                                   subprocess.check_output(["nproc"], text=True).strip()))
print("| command | median | p10 | p90 | ratio to floor | CPU (user+sys), median of the rounds' means |")
print("|---|---|---|---|---|---|")
for r in res:
    t = sorted(r["times"]); n = len(t)
    med = statistics.median(t)
    print("| %s | %.2f ms | %.2f ms | %.2f ms | %.2fx | %.1f ms |" % (
        r["command"], med * 1e3, t[n // 10] * 1e3, t[(9 * n) // 10] * 1e3, med / floor,
        statistics.median(r["cpu"]) * 1e3))
print("\nThe commands (each run as `nsenter --net=/run/netns/LAB COMMAND`):\n")
for name, cmd in cmds:
    print("- %s: `%s`" % (name, cmd))
PY
cat bench/results/start.md
