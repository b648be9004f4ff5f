#!/bin/bash
# bench/network.sh [OUTPUT.md] — time to bring up and tear down N containers
# on one bridge, with NAT out of an uplink and one forwarded TCP port each,
# for three contenders side by side in one run (issue 3, networks):
#
#   cni      Debian's containernetworking-plugins run as a runtime would run
#            a conflist: per container `ip netns add`, bridge (host-local
#            IPAM, ipMasq, isGateway) then portmap; DEL in reverse
#            (driver: bench/network_cni.py)
#   ipbatch  a hand-written script: one `ip -batch` for the host side, one
#            `ip -n NS -batch` per container, one `nft -f` (masquerade + N
#            DNAT rules); teardown deletes the links, namespaces and table
#   moat     `moat up -q -f FILE` / `moat down -q` with [networks.bench] and
#            N containers, each with a `sleep infinity` service ("moat") and
#            without services ("moat, no service")
#
# Everything happens inside throw-away lab namespaces (LAB.md): a "host"
# namespace with a fake uplink (veth up0 203.0.113.10/24, default route via
# 203.0.113.1) to a "wan" namespace. Every measurement gets a fresh lab, and
# its teardown is verified (no links but lo and up0, no firewall objects, no
# container namespace or process left). Contenders run in the host
# namespace with `nsenter --net` (not `ip netns exec`: that remounts /sys and
# hides cgroup2, which moat needs, and its private mount namespace would
# swallow the /run/netns mounts of `ip netns add`).
#
# Times are wall time measured inside the lab namespace around the
# contender's own work: for cni the driver times the plugin chain itself
# (python's start-up excluded), for ipbatch the script's commands, for moat
# the moat process (its exec included).
#
# Writes bench/results/network.md (or OUTPUT.md; the raw measurements go to
# network.tsv beside it); bench/report.sh puts it in
# docs/BENCHMARKS.md. Knobs: REPS (default 5), SIZES (default "1 10 100";
# MOAT_BENCH_N1000=1 adds 1000), STATE_ON_DISK=1 (state directories on
# /tmp's file system instead of tmpfs), CONTENDERS (default "cni ipbatch moat
# moat-nosvc"), MOAT (default build/moat, copied so a rebuild mid-run does not
# matter), CHECK=0 skips the (untimed) traffic check at N=1, REPORT_FROM=TSV
# only renders the report from earlier raw measurements.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lab.sh
. "$root/bench/lab.sh"
out=${1:-$root/bench/results/network.md}
reps=${REPS:-5}
sizes=${SIZES:-"1 10 100"}
[[ ${MOAT_BENCH_N1000:-0} == 1 ]] && sizes="$sizes 1000"
contenders=${CONTENDERS:-"cni ipbatch moat moat-nosvc"}
[[ $(id -u) == 0 ]] || { echo "run as root (network namespaces)" >&2; exit 1; }
if [[ ! -x /usr/lib/cni/bridge || ! -x /usr/lib/cni/portmap ]] || ! command -v iptables nft nc >/dev/null; then
    "$root/scripts/deps.sh" --bench
fi

id="mnb$$"
work=$(mktemp -d /tmp/moat-netbench.XXXXXX)
moat="$work/moat"
# moat's state directories on tmpfs, as its default /run/moat is on a usual
# system: a record is saved with fsync (ARCHITECTURE.md, "No residue"), which
# on a shared disk costs whatever the other tenants' writes make it (here
# 2.7-3.4 s of a 4 s `up` of 100 containers, against ~0 on tmpfs).
# STATE_ON_DISK=1 keeps them beside the work directory instead.
if [[ ${STATE_ON_DISK:-0} == 1 ]]; then states=$work; else states=$(mktemp -d /dev/shm/moat-netbench-state.XXXXXX); fi
cp "${MOAT:-$root/build/moat}" "$moat" 2>/dev/null || echo "no moat binary at ${MOAT:-$root/build/moat}" >&2
bg=()  # PIDs of the traffic check's listeners
lab=""
cleanup() {
    set +e
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    [[ -n $lab ]] && lab_down "$lab"
    # Anything of ours left by an interrupted run: namespaces named by our id.
    for ns in $(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$work" "$states"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

q() { "$@" >/dev/null 2>&1; }
inlab() { nsenter --net=/run/netns/"$lab-h" "$@"; }

# timed CMD... : runs CMD in the lab's host namespace, prints "RC MICROSECONDS";
# its output goes to $work/log. A CMD of ". FILE" sources FILE.
timed() {
    nsenter --net=/run/netns/"$lab-h" bash -c '
        t0=${EPOCHREALTIME/[.,]/}; "$@" >"'"$work"'/log" 2>&1; rc=$?; t1=${EPOCHREALTIME/[.,]/}
        echo "$rc $(( t1 - t0 ))"' timed "$@"
}

# --- the lab ---------------------------------------------------------------
run_no=0
lab_up() {
    run_no=$((run_no + 1))
    lab="$id-$run_no"
    lab_uplink "$lab-h" "$lab-w" || exit 1
    state="$states/state-$run_no"
    : >"$work/moat-pids"
}
# Kills what a failed run left (moat's containers by their recorded PIDs,
# anything in the lab's namespaces) and deletes the lab.
lab_down() {
    local - l=$1 p ns
    set +e
    if [[ -d $states/state-${l##*-} ]]; then
        q nsenter --net=/run/netns/"$l-h" "$moat" --state-dir "$states/state-${l##*-}" down -q
        moat_pids >>"$work/moat-pids"
    fi
    while read -r p; do
        [[ -n $p && $(readlink "/proc/$p/exe" 2>/dev/null) == "$moat" ]] && kill -9 "$p"
    done <"$work/moat-pids"
    for ns in $(ip netns list | awk -v p="$l-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    lab=""
}
# moat's container inits (PIDs, from `moat status --json`); each is a fork of our
# copy of the binary (its /proc/PID/exe), which is how a leftover one is recognised.
moat_pids() {
    inlab "$moat" --state-dir "$state" status --json 2>/dev/null | python3 -c '
import json, sys
try:
    for c in json.load(sys.stdin)["containers"]:
        if c.get("pid"): print(c["pid"])
except Exception: pass' || true
}

# What the lab's host namespace holds beyond lo and the uplink; "" when clean.
residue() {
    local links fw netns left=()
    links=$(lab_extra_links "$lab-h")
    [[ -n $links ]] && left+=("$links")
    fw=$(lab_firewall "$lab-h")
    [[ -n $fw ]] && left+=("$fw")
    netns=$(ip netns list | awk -v p="$lab-c" 'index($1, p) == 1' | wc -l)
    [[ $netns -gt 0 ]] && left+=("$netns container netns")
    if [[ -s $work/moat-pids ]]; then
        local alive=0 p
        while read -r p; do [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$moat" ]] && alive=$((alive + 1)); done <"$work/moat-pids"
        [[ $alive -gt 0 ]] && left+=("$alive container processes")
    fi
    if [[ -d $state ]] && [[ -n $(find "$state" -mindepth 1 -print -quit 2>/dev/null) ]]; then
        left+=("state: $(find "$state" -type f | wc -l) files")
    fi
    local IFS=';'
    echo "${left[*]}"
}

# --- the contenders ----------------------------------------------------------
# Each has gen_X N (untimed preparation: files), add_X N, del_X N printing
# "RC MICROSECONDS", and netns_X I (a path to container I's network namespace).

# Container I's address: 10.88.0.1 + I.
addr_of() { echo "10.88.$(( (1 + $1) / 256 )).$(( (1 + $1) % 256 ))"; }

gen_cni() { :; }
add_cni() {
    local s
    if s=$(inlab python3 "$root/bench/network_cni.py" add "$work" "$1" "$lab-c" 2>"$work/log"); then
        echo "0 $(awk -v s="$s" 'BEGIN { printf "%d", s * 1e6 }')"
    else echo "1 0"; fi
}
del_cni() {
    local s
    if s=$(inlab python3 "$root/bench/network_cni.py" del "$work" "$1" "$lab-c" 2>"$work/log"); then
        echo "0 $(awk -v s="$s" 'BEGIN { printf "%d", s * 1e6 }')"
    else echo "1 0"; fi
}
netns_cni() { echo "/run/netns/$lab-c$1"; }

gen_ipbatch() {
    local n=$1 i d="$work/ipbatch"
    rm -rf "$d" && mkdir -p "$d"
    {
        for i in $(seq "$n"); do echo "netns add $lab-c$i"; done
        echo "link add br-bench type bridge"
        echo "addr add 10.88.0.1/16 dev br-bench"
        echo "link set br-bench up"
        for i in $(seq "$n"); do
            echo "link add ve-c$i type veth peer name eth0 netns $lab-c$i"
            echo "link set ve-c$i master br-bench up"
        done
    } >"$d/host.batch"
    for i in $(seq "$n"); do
        printf 'link set lo up\nlink set eth0 up\naddr add %s/16 dev eth0\nroute add default via 10.88.0.1\n' \
            "$(addr_of "$i")" >"$d/c$i.batch"
    done
    {
        echo "table ip bench {"
        echo "  chain ports {"
        for i in $(seq "$n"); do echo "    tcp dport $((20000 + i)) dnat to $(addr_of "$i"):80"; done
        echo "  }"
        echo "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }"
        echo "  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump ports; }"
        echo "  chain postrouting {"
        echo "    type nat hook postrouting priority srcnat; policy accept;"
        echo "    ip saddr 10.88.0.0/16 oifname \"up0\" masquerade"
        echo "    ip saddr 127.0.0.0/8 ip daddr 10.88.0.0/16 masquerade"
        echo "    ip saddr 10.88.0.0/16 ip daddr 10.88.0.0/16 ct status dnat masquerade"
        echo "  }"
        echo "}"
    } >"$d/rules.nft"
    cat >"$d/up.sh" <<SH
ip -batch $d/host.batch || return 1
for i in \$(seq $n); do ip -n $lab-c\$i -batch $d/c\$i.batch || return 1; done
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.br-bench.route_localnet=1 || return 1
nft -f $d/rules.nft || return 1
SH
    {
        for i in $(seq "$n"); do echo "link del ve-c$i"; done
        echo "link del br-bench"
        for i in $(seq "$n"); do echo "netns del $lab-c$i"; done
    } >"$d/del.batch"
    cat >"$d/down.sh" <<SH
ip -batch $d/del.batch || return 1
nft delete table ip bench || return 1
sysctl -qw net.ipv4.ip_forward=0 || return 1
SH
}
add_ipbatch() { timed . "$work/ipbatch/up.sh"; }
del_ipbatch() { timed . "$work/ipbatch/down.sh"; }
netns_ipbatch() { echo "/run/netns/$lab-c$1"; }

gen_moat_file() {  # N WITH_SERVICE
    local i
    {
        printf '[networks.bench]\nsubnet = "10.88.0.0/16"\negress = "nat"\n'
        for i in $(seq "$1"); do
            printf '\n[containers.c%d]\nprivateNetwork = true\nhostBridge = "bench"\n' "$i"
            printf 'forwardPorts = [{ protocol = "tcp", hostPort = %d, containerPort = 80 }]\n' $((20000 + i))
            if [[ $2 == 1 ]]; then
                printf '[containers.c%d.services.main]\nexec = ["/bin/sleep", "infinity"]\n' "$i"
            fi
        done
    } >"$work/moat.toml"
}
gen_moat() { gen_moat_file "$1" 1; }
gen_moat-nosvc() { gen_moat_file "$1" 0; }
add_moat() {
    local r
    r=$(timed "$moat" --state-dir "$state" up -q -f "$work/moat.toml")
    moat_pids >"$work/moat-pids"
    echo "$r"
}
del_moat() { timed "$moat" --state-dir "$state" down -q; }
netns_moat() {
    local p
    p=$(inlab "$moat" --state-dir "$state" status --json | python3 -c '
import json, sys
for c in json.load(sys.stdin)["containers"]:
    if c["name"] == "c'"$1"'": print(c["pid"])')
    echo "/proc/$p/ns/net"
}
add_moat-nosvc() { add_moat "$@"; }
del_moat-nosvc() { del_moat "$@"; }
netns_moat-nosvc() { netns_moat "$@"; }

# Untimed check that container 1 is reachable through its forwarded port from
# the wan and from the host itself, and that it reaches the wan through NAT
# (the wan has no route back to 10.88.0.0/16, so only a masqueraded
# connection can complete). Prints "ok" or what failed.
listen_in() {  # NETNS-PATH PORT FILE
    timeout 10 nsenter --net="$1" nc -l -p "$2" >"$3" 2>/dev/null &
    bg+=($!)
    for _ in $(seq 100); do
        nsenter --net="$1" ss -Hltn "sport = :$2" | grep -q . && return 0
        sleep 0.02
    done
}
check_traffic() {
    local c=$1 ns fails=()
    ns=$("netns_$c" 1)
    listen_in "$ns" 80 "$work/got"
    echo from-wan | timeout 5 ip netns exec "$lab-w" nc -N 203.0.113.10 20001 2>/dev/null || true
    sleep 0.2
    [[ $(cat "$work/got") == from-wan ]] || fails+=("wan->203.0.113.10:20001")
    listen_in "$ns" 80 "$work/got"
    echo from-host | timeout 5 nsenter --net=/run/netns/"$lab-h" nc -N 127.0.0.1 20001 2>/dev/null || true
    sleep 0.2
    [[ $(cat "$work/got") == from-host ]] || fails+=("host->127.0.0.1:20001")
    listen_in "/run/netns/$lab-w" 8080 "$work/got"
    echo egress | timeout 5 nsenter --net="$ns" nc -N 203.0.113.1 8080 2>/dev/null || true
    sleep 0.2
    [[ $(cat "$work/got") == egress ]] || fails+=("container->203.0.113.1 (NAT)")
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
    bg=()
    if [[ ${#fails[@]} == 0 ]]; then echo ok; else local IFS=,; echo "FAILED: ${fails[*]}"; fi
}

# --- the runs ----------------------------------------------------------------
# The raw measurements are kept next to the report (OUTPUT.tsv), and
# REPORT_FROM=THAT.tsv renders a report from them again without running.
results="$work/results.tsv"
: >"$results"
declare -A skip checked
[[ -n ${REPORT_FROM:-} ]] && { cp "$REPORT_FROM" "$results"; reps=0; }
for rep in $(seq "$reps"); do
    for n in $sizes; do
        for c in $contenders; do
            [[ -n ${skip[$c]:-} ]] && continue
            [[ $c == moat* && ! -x $moat ]] && { skip[$c]="no moat binary"; continue; }
            echo "== rep $rep/$reps, N=$n: $c" >&2
            lab_up
            "gen_$c" "$n"
            rc=1 add_us=0
            read -r rc add_us < <("add_$c" "$n") || true
            if [[ $rc != 0 ]]; then
                reason=$(grep -m1 . "$work/log" | sed "s|$work/||g" || echo "exit $rc")
                echo "   add failed (exit $rc): $reason" >&2
                skip[$c]="$(sed 's/|/\\|/g' <<<"${reason#moat: }")"
                [[ $c == moat* ]] && grep -q "not supported yet" "$work/log" && skip[$c]="moat says: ${skip[$c]}"
                lab_down "$lab"
                continue
            fi
            # Untimed: did it really make N container links on the bridge?
            ports=$(ip -n "$lab-h" -o link show | grep -c ' master ' || true)
            [[ $ports == "$n" ]] || echo "   WARNING: $ports bridge ports after add, expected $n" >&2
            check="-"
            if [[ ${CHECK:-1} == 1 && $n == 1 && -z ${checked[$c]:-} ]]; then
                check=$(check_traffic "$c")
                checked[$c]=$check
                echo "   traffic check: $check" >&2
            fi
            rc=1 del_us=0
            read -r rc del_us < <("del_$c" "$n") || true
            if [[ $rc != 0 ]]; then
                reason=$(grep -m1 . "$work/log" || echo "exit $rc")
                echo "   delete failed (exit $rc): $reason" >&2
                del_us=-1
            fi
            leftover=$(residue)
            echo "   add $((add_us / 1000)) ms, delete $((del_us / 1000)) ms, left: ${leftover:-nothing}" >&2
            [[ $ports == "$n" ]] || leftover="$ports of $n bridge ports after add; ${leftover:-nothing}"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$n" "$rep" "$add_us" "$del_us" "${leftover:-nothing}" "$check" >>"$results"
            lab_down "$lab"
        done
    done
done
for c in "${!skip[@]}"; do printf '#skip\t%s\t%s\n' "$c" "${skip[$c]}" >>"$results"; done
[[ -n ${REPORT_FROM:-} ]] || cp "$results" "${out%.md}.tsv"

# --- the report --------------------------------------------------------------
mkdir -p "$(dirname "$out")"
python3 - "$results" "$contenders" "$sizes" \
    "$(uname -r)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%d)" "$(iptables -V)" \
    "$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)" \
    "$("$moat" version 2>/dev/null | head -1 || true)" >"$out" <<'PY'
import collections, os, statistics, sys
(results, contenders, sizes, kernel, cpus, cpu, load, date, iptables,
 cniver, moatver) = sys.argv[1:]
contenders, sizes = contenders.split(), [int(s) for s in sizes.split()]
label = {"cni": "CNI plugins %s (bridge + portmap)" % cniver.split("+")[0],
         "ipbatch": "`ip -batch` + `nft -f` script",
         "moat": "moat (a `sleep` service each)", "moat-nosvc": "moat (no services)"}
runs = collections.defaultdict(list)
byrep = {}
skip = {}
for line in open(results):
    f = line.rstrip("\n").split("\t")
    if f[0] == "#skip":
        skip[f[1]] = f[2]
        continue
    c, n, rep, add, dele, left, check = f
    runs[c, int(n)].append((int(add) / 1e6, int(dele) / 1e6, left, check))
    byrep[c, int(n), int(rep)] = int(add) / 1e6
reps = max([r for (_, _, r) in byrep] or [0])

def paired_ratio(a, b, n):
    """Median over the repetitions of a's add time / b's in the same repetition (the
    contenders alternate, so this cancels most of the machine's drift)."""
    v = [byrep[a, n, r] / byrep[b, n, r] for r in range(1, reps + 1)
         if (a, n, r) in byrep and (b, n, r) in byrep and byrep[b, n, r] > 0]
    return statistics.median(v) if v else None

def med(c, n, k):
    v = [r[k] for r in runs.get((c, n), []) if r[k] >= 0]
    return statistics.median(v) if v else None

def rng(c, n, k):
    v = [r[k] for r in runs.get((c, n), []) if r[k] >= 0]
    return "%s–%s" % (ms(min(v))[:-3], ms(max(v))) if len(v) > 1 else ""

def ms(s): return "%.1f ms" % (s * 1e3) if s is not None and s >= 1e-3 * 10 else ("%.2f ms" % (s * 1e3) if s is not None else "n/a")

print("## Networks: N containers on one bridge with NAT and a forwarded port\n")
print("`bench/network.sh`, %s on %s: bring up N containers on one bridge (10.88.0.0/16) with"
      " NAT out of an uplink and one forwarded TCP port each (20000+i -> 80), then tear everything"
      " down again. Each measurement runs in a fresh lab namespace with a fake uplink (veth to a"
      " second namespace, 203.0.113.10/24, default route via 203.0.113.1); the contenders alternate"
      " within each of %s repetitions; times are medians, with the range over the repetitions"
      " (this machine is shared: the range is the noise)." % (", ".join("N=%d" % n for n in sizes), date, reps))
print("Kernel %s, %s CPUs (%s), %s, load average at the end %s (the machine is shared).\n"
      % (kernel, cpus, cpu, iptables, load))
print("- **CNI**: per container `ip netns add`, then the plugins exec'd directly as a runtime does"
      " for a conflist (`bridge` with `host-local` IPAM, `ipMasq`, `isGateway`; then `portmap` with"
      " `runtimeConfig.portMappings` and `prevResult`); teardown runs DEL in reverse, `ip netns del`,"
      " and deletes the bridge (no CNI plugin does). Timed inside the driver (`bench/network_cni.py`),"
      " so the runtime's own start-up is not counted.")
print("- **ip -batch**: one `ip -batch` (namespaces, bridge, veths), one `ip -n NS -batch` per"
      " container (lo, eth0, address, default route), one `sysctl`, one `nft -f` (masquerade, N DNAT"
      " rules, host-local and hairpin masquerade); teardown: one `ip -batch` (veths, bridge,"
      " namespaces), `nft delete table`, `sysctl`.")
print("- **moat**: `moat up -q -f FILE` with `[networks.bench] subnet = \"10.88.0.0/16\", egress = \"nat\"`"
      " and N containers (`privateNetwork`, `hostBridge = \"bench\"`, one `forwardPorts` entry),"
      " with one `exec = [\"/bin/sleep\", \"infinity\"]` service each or with none; `moat down -q`."
      " A moat container is more than a network namespace (mount/PID namespaces, cgroup, init"
      " process), and that is in its time. Its `--state-dir` is %s.%s\n" % (
          "on /tmp's file system (`STATE_ON_DISK=1`): every record save waits for the disk (fsync)"
          if os.environ.get("STATE_ON_DISK") == "1" else "on tmpfs (`/dev/shm`), as moat's default `/run/moat` is",
          (" Version: %s." % moatver) if moatver else ""))
print("| contender | N | add, total | add per container | (add range) | delete, total | delete per container | (delete range) | left after teardown |")
print("|---|---|---|---|---|---|---|---|---|")
for c in contenders:
    for n in sizes:
        rs = runs.get((c, n))
        if not rs:
            why = skip.get(c, "not run")
            print("| %s | %d | n/a | n/a | | n/a | n/a | | %s |" % (label[c], n, why if n == sizes[0] else "\""))
            continue
        a, d = med(c, n, 0), med(c, n, 1)
        lefts = sorted(set(r[2] for r in rs))
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            label[c], n, ms(a), ms(a / n), rng(c, n, 0), ms(d) if d is not None else "failed",
            ms(d / n) if d is not None else "failed", rng(c, n, 1), "; ".join(lefts)))
checks = {c: next((r[3] for (cc, n), rl in runs.items() if cc == c for r in rl if r[3] != "-"), None)
          for c in contenders}
if any(checks.values()):
    print("\nTraffic check at N=1 (untimed; wan -> uplink:20001, host -> 127.0.0.1:20001, container"
          " -> wan through NAT): " + ", ".join("%s %s" % (label[c], v) for c, v in checks.items() if v) + ".")

# Marginal cost per added container between consecutive sizes.
def marginal(c):
    out = []
    for lo, hi in zip(sizes, sizes[1:]):
        a, b = med(c, lo, 0), med(c, hi, 0)
        out.append(None if a is None or b is None else (b - a) / (hi - lo))
    return out
print("\nMarginal add cost per container (difference of totals between sizes):\n")
print("| contender | " + " | ".join("N=%d->%d" % p for p in zip(sizes, sizes[1:])) + " |")
print("|---|" + "---|" * (len(sizes) - 1))
for c in contenders:
    print("| %s | %s |" % (label[c], " | ".join(ms(m) for m in marginal(c))))

def verdict(ok): return "**met**" if ok else "**not met**"
print("\n### Targets\n")
print("From issue 3: add ≤ 3 ms per container at N=100 with NAT and a forward (≥ 8x faster than"
      " CNI), cost linear in N, teardown no slower than the `ip -batch` script. Judged on the"
      " moat rows above (with a service, then without); \"linear\" means no marginal cost per"
      " container above is more than 1.5x the first one.\n")
for c in ("moat", "moat-nosvc"):
    if c not in contenders:
        continue
    if 100 not in sizes or med(c, 100, 0) is None:
        print("- %s: n/a — %s" % (label[c], skip.get(c, "no N=100 measurement")))
        continue
    per = med(c, 100, 0) / 100
    cni = med("cni", 100, 0)
    line = ["add %s per container at N=100: ≤ 3 ms %s" % (ms(per), verdict(per <= 3e-3))]
    r = paired_ratio("cni", c, 100)
    if r is not None:
        line.append("%.1fx faster than CNI (%s per container; median of the per-repetition ratios): ≥ 8x %s"
                    % (r, ms(cni / 100), verdict(r >= 8)))
    m = marginal(c)
    if len(m) >= 2 and all(x is not None for x in m):
        worst = max(m[1:]) / m[0] if m[0] > 0 else float("inf")
        line.append("marginal cost %s: linear %s" % (" / ".join(ms(x) for x in m),
                                                       verdict(worst <= 1.5)))
    pairs = [(n, med(c, n, 1), med("ipbatch", n, 1)) for n in sizes]
    pairs = [(n, a, b) for n, a, b in pairs if a is not None and b is not None]
    if pairs:
        line.append("teardown no slower than `ip -batch`: " + ", ".join(
            "N=%d %s vs %s %s" % (n, ms(a), ms(b), verdict(a <= b)) for n, a, b in pairs))
    dirty = sorted(set(r[2] for n in sizes for r in runs.get((c, n), []) if r[2] != "nothing"))
    line.append("teardown complete %s" % verdict(not dirty) + ("" if not dirty else " (left: %s)" % "; ".join(dirty)))
    print("- %s: %s." % (label[c], "; ".join(line)))
PY
cat "$out"
