#!/bin/bash
# bench/memory.sh [OUTPUT.md] — memory of idle containers (issue 17): N
# containers (default 200) on one bridge with NAT, each with one `sleep
# infinity` service, brought up by `moat up`; then, per container, the PSS
# and RSS of its init (a clone of `up`'s fork server, itself a copy of the
# moat CLI: moat's whole resident share, no moat daemon stays behind `up`)
# and of its service, from
# /proc/PID/smaps_rollup (smem is not needed), and where the median
# init's private pages are, by mapping. PSS divides each shared page
# by the number of processes mapping it, so the sum over the inits is what
# N containers cost in user memory, and sum / N the cost of one.
#
# Everything runs in a throw-away lab namespace (LAB.md) with moat's own
# --state-dir; `moat down` at the end, and the lab is deleted on any exit.
# Knobs: N (default 200), MOAT (default build/moat, copied).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/results/memory.md}
n=${N:-200}
[[ $(id -u) == 0 ]] || { echo "run as root (network namespaces)" >&2; exit 1; }

lab="mmb$$"
work=$(mktemp -d /tmp/moat-membench.XXXXXX)
chmod 755 "$work"
moat="$work/moat"
state="$work/state"
cleanup() {
    set +e
    nsenter --net=/run/netns/"$lab" "$moat" --state-dir "$state" down -q >/dev/null 2>&1
    for p in $(ip netns pids "$lab" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$lab" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "${MOAT:-$root/build/moat}" "$moat"  # after the trap: a missing binary leaves no temp dir

ip netns add "$lab"
ip -n "$lab" link set lo up
{
    printf '[networks.bench]\nsubnet = "10.89.0.0/16"\negress = "nat"\n'
    for i in $(seq "$n"); do
        printf '\n[containers.c%d]\nprivateNetwork = true\nhostBridge = "bench"\n' "$i"
        printf '[containers.c%d.services.main]\nexec = ["/bin/sleep", "infinity"]\n' "$i"
    done
} >"$work/moat.toml"
nsenter --net=/run/netns/"$lab" "$moat" --state-dir "$state" up -q -f "$work/moat.toml"
sleep 2  # every service started, every init idle in its loop
nsenter --net=/run/netns/"$lab" "$moat" --state-dir "$state" status --json >"$work/status.json"

python3 - "$work/status.json" "$n" "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(date -u +%Y-%m-%d)" "$("$moat" version 2>/dev/null | head -1 || true)" >"$out" <<'PY'
import json, os, statistics, sys
status, n, kernel, cpus, load, date, moatver = sys.argv[1:]
n = int(n)

def rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out

inits, services, pids = [], [], []
for c in json.load(open(status))["containers"]:
    pid = c.get("pid")
    if not pid:
        continue
    inits.append(rollup(pid))
    pids.append(pid)
    # The init's children: its services (one `sleep` each).
    kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    for k in kids:
        services.append(rollup(int(k)))
if len(inits) != n:
    sys.exit("memory.sh: %d inits running, expected %d" % (len(inits), n))

def med(rows, k): return statistics.median(r[k] for r in rows)
def avg(rows, k): return sum(r[k] for r in rows) / len(rows)
print("## Memory per idle container\n")
print("`bench/memory.sh`, %s: N=%d containers on one bridge with NAT, each with one `sleep infinity`"
      " service, after `moat up` and 2 s of quiet, in a lab namespace. From `/proc/PID/smaps_rollup`"
      " (KiB). Kernel %s, %s CPUs, load average at the end %s.%s\n"
      % (date, n, kernel, cpus, load, (" Version: %s." % moatver) if moatver else ""))
print("| process | PSS median | PSS mean (sum / N) | RSS median | Private (clean + dirty) median | Anonymous median |")
print("|---|---|---|---|---|---|")
for name, rows in (("init (moat's share)", inits), ("service (`sleep`)", services)):
    priv = [r["Private_Clean"] + r["Private_Dirty"] for r in rows]
    print("| %s | %.0f | %.1f | %.0f | %.0f | %.0f |" % (name, med(rows, "Pss"), avg(rows, "Pss"), med(rows, "Rss"),
                                                        statistics.median(priv), med(rows, "Anonymous")))
# Where an init's private pages are: per mapping of the init with the median
# PSS, from /proc/PID/smaps (the heap, the stack, each library's data).
mid = sorted(range(len(inits)), key=lambda i: inits[i]["Pss"])[len(inits) // 2]
by_map, name = {}, None
with open("/proc/%d/smaps" % pids[mid]) as f:
    for line in f:
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            name = os.path.basename(parts[5]) if len(parts) > 5 else "[anonymous]"
        elif parts and parts[0] in ("Private_Clean:", "Private_Dirty:"):
            by_map[name] = by_map.get(name, 0) + int(parts[1])
print("\nPrivate pages of the median init (PID %d, PSS %d KiB), by mapping (KiB, 8 and more):\n"
      % (pids[mid], inits[mid]["Pss"]))
print("| mapping | private |\n|---|---|")
for k, v in sorted(by_map.items(), key=lambda kv: -kv[1]):
    if v >= 8:
        print("| `%s` | %d |" % (k, v))
pss = avg(inits, "Pss")
print("\nTarget (issue 17): an idle container's init under 256 KiB PSS: %.1f KiB per init (the sum over"
      " the %d inits / N): **%s**." % (pss, n, "met" if pss < 256 else "missed"))
PY
cat "$out"
