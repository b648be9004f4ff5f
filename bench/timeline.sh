#!/bin/bash
# bench/timeline.sh [OUTPUT.md] — where the time of one `moat run --rm
# --network none -- true` goes: the moments its processes reach a few
# system calls (state lock, bpf, clone3, the spec, the init's pivot_root and
# "ok", the command's exec and exit, the exits), in ms from moat's execve,
# medians of RUNS runs (default 40, rounded up to whole passes of the
# loop). With MOAT_BEFORE=BINARY another build runs alternately in the same
# loop, first in every other turn, so the machine's load falls on both
# alike (issue 17: which step a change moved).
#
# perf records the syscall tracepoints (sys_enter_*, sys_exit_clone3,
# sched_process_exit): about a microsecond per event, against the tens that
# strace adds. Everything runs inside a throw-away network namespace that
# plays the host (LAB.md); the state directory is on a tmpfs, as in
# bench/start.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/timeline.md}"
runs="${RUNS:-40}"
moat="$(realpath "${MOAT:-$PWD/build/moat}")"
before="${MOAT_BEFORE:-}"
[ -z "$before" ] || before="$(realpath "$before")"
[ -x "$moat" ] || { echo "build moat first (cmake --build build)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/timeline.sh needs perf (linux-perf)" >&2; exit 1; }

ns="moat-bench-tl-$$"
work="$(mktemp -d /dev/shm/moat-bench-tl.XXXXXX)"
cleanup() {
  for s in "$work"/state-*; do
    [ -d "$s" ] && nsenter --net=/run/netns/"$ns" "$moat" --state-dir "$s" down -q 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

# Each build under a name of its own: the process name (comm) tells whose
# events they are. And from COPIES fresh copies (default 3) in turn:
# byte-identical copies of the binary differed by up to 1.9 ms a run on
# the benchmark machine (bench/start.sh says why).
copies="${COPIES:-3}"
builds=(moat-now)
[ -z "$before" ] || builds=(moat-before moat-now)
for k in $(seq 1 "$copies"); do
  mkdir "$work/$k"
  cp "$moat" "$work/$k/moat-now"
  [ -z "$before" ] || cp "$before" "$work/$k/moat-before"
done
for b in "${builds[@]}"; do mkdir -p "$work/state-$b"; done
loop=""
for k in $(seq 1 "$copies"); do
  forward=""
  reversed=""
  for b in "${builds[@]}"; do
    cmd="$work/$k/$b --state-dir $work/state-$b run --rm --network none -- true; "
    forward+="$cmd"
    reversed="$cmd$reversed"
  done
  # Each pass runs the builds in one order, then in the other: a run that
  # follows another pays for what the kernel still tears down of it (its
  # cgroup's device program, its namespaces), and always the same build
  # in second place would pay it every time.
  loop+="$forward"
  [ ${#builds[@]} -eq 1 ] || loop+="$reversed"
done

events=()
for s in execve clone3 clone exit_group pivot_root flock sendmsg sendto waitid bpf; do
  events+=(-e "syscalls:sys_enter_$s")
done
events+=(-e syscalls:sys_exit_clone3 -e sched:sched_process_exit)
# Runs of each build in one pass of the loop.
per_pass=$(( copies * (${#builds[@]} == 1 ? 1 : 2) ))
# Warm-up: the page cache and the first cgroup of the instance.
nsenter --net=/run/netns/"$ns" sh -c "$loop" >/dev/null
perf record -q -o "$work/perf.data" "${events[@]}" -- \
  nsenter --net=/run/netns/"$ns" sh -c "for i in \$(seq $(( (runs + per_pass - 1) / per_pass ))); do $loop done" >/dev/null
runs=$(( (runs + per_pass - 1) / per_pass * per_pass ))
perf script -i "$work/perf.data" -F comm,pid,time,event 2>/dev/null > "$work/events.txt"

mkdir -p "$(dirname "$out")"
python3 - "$work/events.txt" "$runs" "$(uname -r)" "$(nproc)" "${builds[@]}" > "$out" <<'PY'
import statistics, sys
path, runs, kernel, cpus, builds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
# The steps, in order: (label, process, event, which occurrence).
steps = [
    ("state lock taken", "cli", "sys_enter_flock", 0),
    ("cgroup device filter loaded", "cli", "sys_enter_bpf", 0),
    ("init cloned (clone3 returns)", "cli", "sys_exit_clone3", 0),
    ("spec sent to the init", "cli", "spec", 0),
    ("init's pivot_root", "moat-init", "sys_enter_pivot_root", 0),
    ("init answers ok", "moat-init", "sys_enter_sendmsg", 0),
    ("command exec'd", "moat-init", "sys_enter_execve", 0),
    ("command exits", "true", "sys_enter_exit_group", 0),
    ("init exits", "moat-init", "sys_enter_exit_group", 0),
    ("CLI sees the init gone (waitid)", "cli", "sys_enter_waitid", 0),
    ("moat exits", "cli", "sys_enter_exit_group", 0),
]
runs_seen = []
cur = None
for line in open(path):
    f = line.split()
    comm, t, ev = f[0], float(f[2].rstrip(":")) * 1000, f[3].split(":")[1]
    if ev == "sys_enter_execve" and comm == "sh":  # sh execs the next moat
        cur = {"t0": t, "who": None, "first": {}}
        runs_seen.append(cur)
        continue
    if cur is None:
        continue
    if comm in builds:
        cur["who"] = cur["who"] or comm
        comm = "cli"
    cur["first"].setdefault((comm, ev), t - cur["t0"])
    # The spec is the CLI's last message before the init's pivot_root (an
    # older build also raised lo with a sendmsg of its own first).
    if comm == "cli" and ev == "sys_enter_sendmsg" and ("moat-init", "sys_enter_pivot_root") not in cur["first"]:
        cur["first"][("cli", "spec")] = t - cur["t0"]
table = {b: {} for b in builds}
for r in runs_seen:
    if r["who"] in table:
        for label, proc, ev, _ in steps:
            if (proc, ev) in r["first"]:
                table[r["who"]].setdefault(label, []).append(r["first"][(proc, ev)])
names = {"moat-now": "this build", "moat-before": "MOAT_BEFORE"}
print("## Timeline of `moat run --rm --network none -- true`\n")
print(f"`bench/timeline.sh`: ms from moat's execve, medians of {runs} runs per build"
      + (", the builds alternating in one loop" if len(builds) > 1 else "")
      + f"; perf on syscall tracepoints. Kernel {kernel}, {cpus} CPUs.\n")
print("| step | " + " | ".join(names[b] for b in builds) + " |")
print("|---|" + "---|" * len(builds))
for label, *_ in steps:
    cells = []
    for b in builds:
        v = table[b].get(label, [])
        cells.append(f"{statistics.median(v):.2f}" if len(v) >= runs // 2 else "–")
    print(f"| {label} | " + " | ".join(cells) + " |")
PY
cat "$out"
