#!/bin/bash
# bench/cni.sh [OUTPUT.md] — ADD and DEL latency per pod of moat as a CNI
# plugin against the reference chain, at N = 1, 10 and 100 pods on one
# network (issue 16; target: moat's ADD at least 5x faster than
# bridge + portmap, its DEL at least as fast):
#
#   moat     `"type": "moat"`, subnet 10.88.0.0/16, egress "nat", one
#            runtimeConfig.portMappings entry per pod (20000+i -> 80/tcp)
#   bridge   Debian's containernetworking-plugins: bridge (host-local IPAM,
#            ipMasq, isGateway) then portmap with the same mapping
#   moat-before  optional (MOAT_BEFORE=BINARY and "moat-before" in
#            CONTENDERS): moat's configuration with another build, to
#            measure a change before and after in the same run
#
# The plugins' own state (moat's stateDir, host-local's dataDir) lives under
# STATE_BASE (default /dev/shm, a tmpfs, as /run — moat's default
# /run/moat — is on a usual node; STATE_BASE=/tmp puts it on disk, where
# every fsync of moat's crash-safe state store is paid in full).
#
# Both are driven the same way by bench/cni_pods.py, which plays libcni:
# each plugin of the chain exec'd per pod with the CNI_* environment and its
# configuration on stdin, prevResult chained, DEL in reverse with the ADD's
# result. The pods' network namespaces are made before the clock starts
# (the runtime's job, not the plugin's) and deleted after DEL, untimed. A
# pod's time is its whole chain, measured by the driver around the execs.
#
# Everything happens inside throw-away lab namespaces (LAB.md): a "host"
# namespace with a fake uplink (veth up0 203.0.113.10/24, default route via
# 203.0.113.1) to a "wan" namespace; the plugins run in the host namespace
# with `nsenter --net`. Every measurement (contender, N, repetition) gets a
# fresh lab, so the first pod pays for the bridge and the table as in a
# fresh node; the contenders alternate within each repetition (their order
# swapped every other one). After the first ADD of N=1 of each contender an
# untimed traffic check: the wan reaches the pod through 203.0.113.10:20001,
# the pod reaches the wan through NAT. After DEL the lab's host namespace is
# inspected for what is left.
#
# Before the clock starts, SETTLE seconds (default 1) pass: deleting the
# previous lab's namespaces returns at once, and the kernel tears them down
# afterwards in a workqueue that holds the RTNL lock in turns (every link,
# the RCU grace periods of their unregistration) — the first RTNL request
# of the next measurement (a veth, a bridge, an alias) could wait 50-100 ms
# for it, whichever contender came first. SETTLE=0: the runs before
# 2026-12-04 (bench/results/cni-exit.md and earlier).
#
# Writes bench/results/cni.md (or OUTPUT.md; raw measurements to cni.tsv
# beside it). Knobs: REPS (default "1:20 10:20 100:5", size:repetitions),
# CONTENDERS (default "moat bridge"), MOAT (default build/moat, copied),
# MOAT_BEFORE, STATE_BASE, SETTLE (above),
# REPORT_FROM=TSV only renders the report, KEEP=1 keeps the work directory.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lab.sh
. "$root/bench/lab.sh"
out=${1:-$root/bench/results/cni.md}
reps_spec=${REPS:-"1:20 10:20 100:5"}
contenders=${CONTENDERS:-"moat bridge"}
py=/usr/bin/python3
q() { "$@" >/dev/null 2>&1; }

declare -A reps_of
sizes=""
for s in $reps_spec; do reps_of[${s%%:*}]=${s##*:}; sizes+="${s%%:*} "; done
max_reps=0
for n in $sizes; do (( reps_of[$n] > max_reps )) && max_reps=${reps_of[$n]}; done

id="mcn$$"
work=$(mktemp -d /tmp/moat-cnibench.XXXXXX)
state_base=${STATE_BASE:-/dev/shm}
state=$(mktemp -d "$state_base/moat-cnibench-state.XXXXXX")
trap 'rm -rf "$work" "$state"' EXIT  # until cleanup's trap: an early exit leaves nothing
state_fs="$(findmnt -n -o FSTYPE --target "$state") ($state_base)"
if [[ -z ${REPORT_FROM:-} ]]; then
    [[ $(id -u) == 0 ]] || { echo "run as root (network namespaces)" >&2; exit 1; }
    if [[ ! -x /usr/lib/cni/bridge || ! -x /usr/lib/cni/portmap ]] || ! command -v iptables nft nc >/dev/null; then
        "$root/scripts/deps.sh" --bench
    fi
    mkdir -p "$work/cni-moat"
    cp "${MOAT:-$root/build/moat}" "$work/cni-moat/moat"
    q "$work/cni-moat/moat" version || { echo "no working moat binary at ${MOAT:-$root/build/moat}" >&2; exit 1; }
    if [[ " $contenders " == *" moat-before "* ]]; then
        mkdir -p "$work/cni-moat-before"
        cp "${MOAT_BEFORE:?moat-before needs MOAT_BEFORE=BINARY}" "$work/cni-moat-before/moat"
        q "$work/cni-moat-before/moat" version || { echo "no working moat binary at $MOAT_BEFORE" >&2; exit 1; }
    fi
fi
bg=()
lab=""
cleanup() {
    set +e
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    [[ -n $lab ]] && lab_down "$lab"
    for ns in $(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [[ -n ${KEEP:-} ]]; then echo "kept $work $state" >&2; else rm -rf "$work" "$state"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

inlab() { nsenter --net=/run/netns/"$lab-h" "$@"; }

# --- the lab ---------------------------------------------------------------
run_no=0
lab_up() {
    run_no=$((run_no + 1))
    lab="$id-$run_no"
    lab_uplink "$lab-h" "$lab-w" || exit 1
    rm -rf "$state/moat-state" "$state/ipam"
}
pods_up() {  # N: the pods' namespaces, as a runtime makes them (untimed)
    local i
    for i in $(seq "$1"); do echo "netns add $lab-p$i"; done >"$work/pods.batch"
    ip -batch "$work/pods.batch"
}
lab_down() {
    local - l=$1 p ns
    set +e
    # A failed run's moat pods: DEL what the state dir records (it has no processes).
    if [[ -d $state/moat-state ]]; then
        q nsenter --net=/run/netns/"$l-h" "$work/cni-moat/moat" --state-dir "$state/moat-state" down -q
    fi
    for ns in $(ip netns list | awk -v p="$l-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$state/moat-state" "$state/ipam"
    lab=""
}

# What the lab's host namespace holds beyond lo and the uplink; "" when clean.
residue() {
    local links fw left=()
    links=$(lab_extra_links "$lab-h")
    [[ -n $links ]] && left+=("$links")
    fw=$(lab_firewall "$lab-h")
    [[ -n $fw ]] && left+=("$fw")
    if [[ -d $state/moat-state ]] && [[ -n $(find "$state/moat-state" -mindepth 1 -print -quit 2>/dev/null) ]]; then
        left+=("moat state: $(find "$state/moat-state" -type f | wc -l) files")
    fi
    local IFS=';'
    echo "${left[*]}"
}

# Untimed, after ADD at N=1: the wan reaches pod 1's port 80 through the
# uplink's 20001, and pod 1 reaches the wan (which has no route back to
# 10.88.0.0/16, so only a masqueraded connection completes). "ok" or what failed.
listen_in() {  # NETNS-PATH PORT FILE
    : >"$3"
    timeout 10 nsenter --net="$1" nc -l -p "$2" >"$3" 2>/dev/null &
    bg+=($!)
    for _ in $(seq 100); do
        nsenter --net="$1" ss -Hltn "sport = :$2" | grep -q . && return 0
        sleep 0.02
    done
}
check_traffic() {
    local pod=/run/netns/$lab-p1 fails=() p
    listen_in "$pod" 80 "$work/got"
    echo from-wan | timeout 5 nsenter --net=/run/netns/"$lab-w" nc -N 203.0.113.10 20001 2>/dev/null || true
    sleep 0.2
    [[ $(cat "$work/got") == from-wan ]] || fails+=("wan->203.0.113.10:20001")
    listen_in "/run/netns/$lab-w" 8080 "$work/got"
    echo egress | timeout 5 nsenter --net="$pod" nc -N 203.0.113.1 8080 2>/dev/null || true
    sleep 0.2
    [[ $(cat "$work/got") == egress ]] || fails+=("pod->203.0.113.1 (NAT)")
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bg=()
    if [[ ${#fails[@]} == 0 ]]; then echo ok; else local IFS=,; echo "FAILED: ${fails[*]}"; fi
}

# --- the runs ----------------------------------------------------------------
# TSV rows: OP CONTENDER N REP POD SECONDS PARTS, OP one of add, del; and
# "left CONTENDER N REP - - NOTE", "check CONTENDER 1 REP - - NOTE",
# "fail CONTENDER N REP - - NOTE".
results="$work/results.tsv"
: >"$results"
declare -A checked skip
driver() {  # OP CONTENDER N REP
    local o
    if o=$(inlab "$py" "$root/bench/cni_pods.py" "$1" "$work" "$2" "$3" "$lab-p" "$state" 2>"$work/log"); then
        awk -v op="$1" -v c="$2" -v n="$3" -v r="$4" '{ parts = ""; for (k = 3; k <= NF; k++) parts = parts (k > 3 ? " " : "") $k
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", op, c, n, r, $1, $2, parts }' <<<"$o" >>"$results"
        awk '{ s += $2 } END { printf "%.1f ms per pod", s * 1000 / NR }' <<<"$o"
    else
        printf 'fail\t%s\t%s\t%s\t-\t-\t%s\n' "$2" "$3" "$4" "$(head -c 300 "$work/log" | tr '\n\t' '  ')" >>"$results"
        return 1
    fi
}
if [[ -n ${REPORT_FROM:-} ]]; then
    cp "$REPORT_FROM" "$results"
    max_reps=0
fi
for rep in $(seq "$max_reps"); do
    order=$contenders
    (( rep % 2 == 0 )) && order=$(tr ' ' '\n' <<<"$contenders" | tac | tr '\n' ' ')
    for n in $sizes; do
        (( rep <= reps_of[$n] )) || continue
        for c in $order; do
            [[ -n ${skip[$c]:-} ]] && continue
            lab_up
            pods_up "$n"
            sleep "${SETTLE:-1}"  # the previous lab's teardown (see the top)
            if ! a=$(driver add "$c" "$n" "$rep"); then
                echo "== rep $rep, N=$n, $c: ADD failed: $(head -c 300 "$work/log")" >&2
                skip[$c]=1
                lab_down "$lab"
                continue
            fi
            if [[ $n == 1 && -z ${checked[$c]:-} ]]; then
                checked[$c]=$(check_traffic)
                printf 'check\t%s\t1\t%s\t-\t-\t%s\n' "$c" "$rep" "${checked[$c]}" >>"$results"
                echo "   $c traffic check: ${checked[$c]}" >&2
            fi
            d=$(driver del "$c" "$n" "$rep") || { d="DEL failed: $(head -c 300 "$work/log")"; }
            ip -batch <(sed 's/^netns add/netns del/' "$work/pods.batch")
            left=$(residue)
            printf 'left\t%s\t%s\t%s\t-\t-\t%s\n' "$c" "$n" "$rep" "${left:-nothing}" >>"$results"
            echo "== rep $rep/${reps_of[$n]}, N=$n, $c: ADD $a, DEL $d, left: ${left:-nothing}" >&2
            lab_down "$lab"
        done
    done
done
[[ -n ${REPORT_FROM:-} ]] || { mkdir -p "$(dirname "$out")"; cp "$results" "${out%.md}.tsv"; }

# --- the report --------------------------------------------------------------
mkdir -p "$(dirname "$out")"
"$py" - "$results" "$contenders" \
    "$(uname -r)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%d)" "$(iptables -V)" \
    "$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)" \
    "$( { [[ -x $work/cni-moat/moat ]] && "$work/cni-moat/moat" version 2>/dev/null | head -1; } || true)" \
    "$state_fs" "${MOAT_BEFORE_LABEL:-an earlier build}" "${SETTLE:-1}" >"$out" <<'PY'
import collections, statistics, sys
results, contenders, kernel, cpus, cpu, load, date, iptables, cniver, moatver, statefs, beforelabel, settle = sys.argv[1:]
contenders = contenders.split()
label = {"moat": "moat (`type: moat`)", "moat-before": "moat, %s" % beforelabel,
         "bridge": "bridge + portmap %s" % cniver.split("+")[0]}
samples = collections.defaultdict(list)        # (op, c, n) -> [seconds per pod]
parts = collections.defaultdict(list)          # (op, c, n, plugin) -> [seconds]
per_rep = collections.defaultdict(list)        # (op, c, n, rep) -> [seconds per pod]
notes = collections.defaultdict(set)           # (kind, c, n) -> {note}
sizes = []
for line in open(results):
    op, c, n, rep, pod, s, rest = line.rstrip("\n").split("\t")
    n = int(n)
    if op in ("add", "del"):
        if n not in sizes:
            sizes.append(n)
        samples[op, c, n].append(float(s))
        per_rep[op, c, n, int(rep)].append(float(s))
        for p in rest.split():
            k, v = p.split("=")
            parts[op, c, n, k].append(float(v))
    else:
        notes[op, c, n].add(rest)
sizes.sort()
reps = {n: len({r for (op, c, nn, r) in per_rep if nn == n and op == "add"}) for n in sizes}

def med(v): return statistics.median(v) if v else None
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else None
def ms(s): return "n/a" if s is None else ("%.1f ms" % (s * 1e3) if s >= 0.01 else "%.2f ms" % (s * 1e3))

def paired(op, n, slow="bridge", fast="moat"):
    """Median over repetitions of (slow's mean per pod / fast's) in the same repetition."""
    v = []
    for (o, c, nn, r), xs in per_rep.items():
        if o == op and c == fast and nn == n and (op, slow, n, r) in per_rep:
            v.append(statistics.mean(per_rep[op, slow, n, r]) / statistics.mean(xs))
    return med(v)

print("## CNI: ADD and DEL per pod, moat against bridge + portmap\n")
print("`bench/cni.sh`, %s on %s: N pods attached one after the other to one network"
      " (10.88.0.0/16, NAT out of the uplink, one port mapping each: 20000+i -> 80/tcp), then"
      " detached one after the other (in reverse). Every measurement is a fresh lab (a host namespace"
      " with a fake uplink veth 203.0.113.10/24 to a wan namespace); the contenders alternate within"
      " each repetition, their order swapped every other one (%s repetitions). The pods' network"
      " namespaces are made before the clock starts and deleted after DEL (the runtime's work, not"
      " the plugin's); the clock starts %s s after the previous lab was deleted (its teardown"
      " in the kernel holds the RTNL lock)." % (", ".join("N=%d" % n for n in sizes), date,
                          ", ".join("%d at N=%d" % (reps[n], n) for n in sizes), settle))
print("Kernel %s, %s CPUs (%s), %s, load average at the end %s (the machine is shared)."
      " The plugins' state (moat's `stateDir`, host-local's `dataDir`) on %s.\n"
      % (kernel, cpus, cpu, iptables, load, statefs))
print("- **Driver** (`bench/cni_pods.py`, in the lab's host namespace under `nsenter --net`): plays"
      " libcni. Per pod, each plugin of the chain is exec'd with `CNI_COMMAND`, `CNI_CONTAINERID=bench-i`,"
      " `CNI_NETNS=/run/netns/POD`, `CNI_IFNAME=eth0`, `CNI_PATH` and its configuration on stdin; a"
      " chained plugin gets `prevResult`; DEL runs the chain in reverse with the ADD's result as"
      " `prevResult`. A pod's time is its whole chain, from the first fork to the last exit.")
print("- **moat**: `{\"cniVersion\": \"1.0.0\", \"name\": \"bench\", \"type\": \"moat\", \"subnet\":"
      " \"10.88.0.0/16\", \"egress\": \"nat\", \"stateDir\": DIR, \"capabilities\": {\"portMappings\": true},"
      " \"runtimeConfig\": {\"portMappings\": [{\"hostPort\": 20000+i, \"containerPort\": 80, \"protocol\":"
      " \"tcp\"}]}}`.%s" % ((" %s." % moatver) if moatver else ""))
print("- **bridge + portmap**: `{\"type\": \"bridge\", \"bridge\": \"cni-bench\", \"isGateway\": true,"
      " \"ipMasq\": true, \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": \"10.88.0.0/16\"}]],"
      " \"routes\": [{\"dst\": \"0.0.0.0/0\"}], \"dataDir\": DIR}}` then `{\"type\": \"portmap\","
      " \"capabilities\": {\"portMappings\": true}, \"runtimeConfig\": {\"portMappings\": [the same]}}`"
      " (Debian's containernetworking-plugins %s, iptables through the nf_tables backend).\n" % cniver)
print("| contender | N | ADD per pod, median | (p10–p90) | DEL per pod, median | (p10–p90) | ADD, all N pods | DEL, all N pods | left after DEL |")
print("|---|---|---|---|---|---|---|---|---|")
for c in contenders:
    for n in sizes:
        a, d = samples.get(("add", c, n), []), samples.get(("del", c, n), [])
        fails = notes.get(("fail", c, n))
        if not a:
            print("| %s | %d | n/a | | n/a | | | | %s |" % (label[c], n, "; ".join(sorted(fails or {"not run"}))))
            continue
        tot = lambda op: med([sum(v) for (o, cc, nn, r), v in per_rep.items() if o == op and cc == c and nn == n])
        print("| %s | %d | %s | %s–%s | %s | %s–%s | %s | %s | %s |" % (
            label[c], n, ms(med(a)), ms(q(a, .1))[:-3], ms(q(a, .9)), ms(med(d)), ms(q(d, .1))[:-3], ms(q(d, .9)),
            ms(tot("add")), ms(tot("del")), "; ".join(sorted(notes.get(("left", c, n), {"-"})))))
if "bridge" in contenders:
    print("\nThe reference chain per plugin (medians per pod):\n")
    print("| N | bridge ADD | portmap ADD | portmap DEL | bridge DEL |")
    print("|---|---|---|---|---|")
    for n in sizes:
        print("| %d | %s | %s | %s | %s |" % (n, ms(med(parts["add", "bridge", n, "bridge"])),
              ms(med(parts["add", "bridge", n, "portmap"])), ms(med(parts["del", "bridge", n, "portmap"])),
              ms(med(parts["del", "bridge", n, "bridge"]))))
checks = {c: sorted(notes.get(("check", c, 1), [])) for c in contenders}
if any(checks.values()):
    print("\nTraffic check after ADD at N=1 (untimed; wan -> 203.0.113.10:20001 -> pod:80, pod -> wan"
          " through NAT): " + ", ".join("%s %s" % (label[c], "/".join(v)) for c, v in checks.items() if v) + ".")

def verdict(ok): return "**met**" if ok else "**not met**"
if set(contenders) >= {"moat", "bridge"}:
    print("\n### Targets\n")
    print("From issue 16: moat's ADD at least 5x faster than bridge + portmap, its DEL at least as"
          " fast. Ratio = bridge + portmap's median per pod / moat's; in brackets the median over the"
          " repetitions of the same ratio of means within one repetition.\n")
    print("| N | ADD: bridge + portmap / moat | ≥ 5x | DEL: bridge + portmap / moat | ≥ 1x |")
    print("|---|---|---|---|---|")
    for n in sizes:
        ma, ba = med(samples.get(("add", "moat", n))), med(samples.get(("add", "bridge", n)))
        md, bd = med(samples.get(("del", "moat", n))), med(samples.get(("del", "bridge", n)))
        if None in (ma, ba, md, bd):
            print("| %d | n/a | | n/a | |" % n)
            continue
        pa, pd = paired("add", n), paired("del", n)
        print("| %d | %.2fx (%.2fx) | %s | %.2fx (%.2fx) | %s |" % (
            n, ba / ma, pa or 0, verdict(ba / ma >= 5), bd / md, pd or 0, verdict(bd / md >= 1)))
if set(contenders) >= {"moat", "moat-before"}:
    print("\nThis build against %s, same run (ratio = before / now; in brackets paired per repetition):\n" % beforelabel)
    print("| N | ADD before | ADD now | ratio | DEL before | DEL now | ratio |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        b, a = samples.get(("add", "moat-before", n)), samples.get(("add", "moat", n))
        bd, ad = samples.get(("del", "moat-before", n)), samples.get(("del", "moat", n))
        if not (a and b and ad and bd):
            continue
        print("| %d | %s | %s | %.2fx (%.2fx) | %s | %s | %.2fx (%.2fx) |" % (
            n, ms(med(b)), ms(med(a)), med(b) / med(a), paired("add", n, "moat-before") or 0,
            ms(med(bd)), ms(med(ad)), med(bd) / med(ad), paired("del", n, "moat-before") or 0))
PY
cat "$out"
