#!/bin/bash
# bench/check.sh [OUTPUT.md] — how long a full `moat check` takes for N
# containers (issue 6: 1, 10 and 100 containers; target: under 2 s for 10,
# the checks running in parallel), side by side in one run with what users
# do today without it:
#
#   moat     `moat check` over every container: static checks (init,
#            services, link, address, route, firewall, sysctls), then the
#            egress probe from inside each container to [check] probe, with
#            a packet capture on the host's other interfaces while the
#            egress "none" containers probe (the leak check)
#   byhand   for each container in turn, `nsenter -t PID -n curl -s
#            --max-time 2 http://198.51.100.10/` (PIDs from `moat status
#            --json`, looked up before the clock starts); no static checks,
#            no leak capture, and a blocked container costs the whole curl
#            timeout
#
# The setup, per size N: [networks.bench] (10.180.0.0/16, egress "nat") with
# N containers, each with a `sleep infinity` service; every second container
# (c2, c4, ...) has egress "none", so N=1 is one NAT container and N=10 or
# 100 are half NAT, half "none" (both the NAT probe and the leak capture).
#
# Everything happens inside throw-away lab namespaces (LAB.md): a "host"
# namespace with a fake uplink (veth up0 203.0.113.10/24, default route via
# 203.0.113.1) to a "wan" namespace holding 203.0.113.1 and, on lo,
# 198.51.100.10 with a web server that answers every GET with the client's
# source address. moat runs in the host namespace with `nsenter --net` (not
# `ip netns exec`: that remounts /sys and hides cgroup2, which moat needs)
# and its own --state-dir. Each size gets a fresh lab: `moat up` (timed once,
# for context), then `moat check --quiet` until it passes once (services may still
# be starting), then REPS repetitions of both contenders, alternating. After
# the runs: one untimed `moat check --json` (every NAT container must be seen
# as 203.0.113.10, every "none" one blocked, the leak count 0), `moat down`,
# and a check that nothing is left (links, firewall, container processes,
# state files) before the lab is deleted.
#
# A timed `moat check` must exit 0; a failing one is recorded and reported as
# a failed benchmark. Times are wall time inside the lab's host namespace
# around the moat process (its exec included) and around the whole by-hand
# loop.
#
# Writes bench/results/check.md (or OUTPUT.md; the raw measurements go to
# check.tsv beside it); bench/report.sh puts it in docs/BENCHMARKS.md.
# Knobs: REPS (default 5), SIZES (default "1 10 100"), MOAT (default
# build/moat, copied so a rebuild mid-run does not matter), REPORT_FROM=TSV
# only renders the report from earlier raw measurements, KEEP=1 keeps the
# work directory (logs) for a look.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lab.sh
. "$root/bench/lab.sh"
out=${1:-$root/bench/results/check.md}
reps=${REPS:-5}
sizes=${SIZES:-"1 10 100"}
probe_url="http://198.51.100.10/"
byhand_timeout=2
py=/usr/bin/python3  # not a pyenv shim: the real interpreter
q() { "$@" >/dev/null 2>&1; }

id="mcb$$"
work=$(mktemp -d /tmp/moat-checkbench.XXXXXX)
trap 'rm -rf "$work"' EXIT  # until cleanup's trap: an early exit leaves nothing
moat="$work/moat"
if [[ -z ${REPORT_FROM:-} ]]; then
    [[ $(id -u) == 0 ]] || { echo "run as root (network namespaces)" >&2; exit 1; }
    if ! command -v curl nft nsenter "$py" >/dev/null; then
        "$root/scripts/deps.sh" --bench
    fi
    # A copy, so a rebuild mid-run does not matter; retried if caught mid-link.
    for _ in 1 2 3 4 5; do
        cp "${MOAT:-$root/build/moat}" "$moat" 2>/dev/null && chmod 755 "$moat" && q "$moat" version && break
        sleep 3
    done
    q "$moat" version || { echo "no working moat binary at ${MOAT:-$root/build/moat}" >&2; exit 1; }
fi
lab=""
cleanup() {
    set +e
    [[ -n $lab ]] && lab_down "$lab"
    # Anything of ours left by an interrupted run: namespaces named by our id.
    for ns in $(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [[ -n ${KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

inlab() { nsenter --net=/run/netns/"$lab-h" "$@"; }
moatc() { inlab "$moat" --state-dir "$state" "$@"; }
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }

# timed CMD... : runs CMD in the lab's host namespace, prints "RC MICROSECONDS";
# its output goes to $work/log. A CMD of ". FILE" sources FILE.
timed() {
    nsenter --net=/run/netns/"$lab-h" bash -c '
        t0=${EPOCHREALTIME/[.,]/}; "$@" >"'"$work"'/log" 2>&1; rc=$?; t1=${EPOCHREALTIME/[.,]/}
        echo "$rc $(( t1 - t0 ))"' timed "$@"
}

# The web server in the wan: answers every GET with the client's source
# address and a newline (what `moat check` reads as "seen as").
cat >"$work/web.py" <<'PY'
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
Server(("198.51.100.10", 80), Handler).serve_forever()
PY

# --- the lab ---------------------------------------------------------------
run_no=0
lab_up() {
    run_no=$((run_no + 1))
    lab="$id-$run_no"
    state="$work/state-$run_no"
    : >"$work/moat-pids"
    lab_uplink "$lab-h" "$lab-w" || exit 1
    ip -n "$lab-w" addr add 198.51.100.10/32 dev lo
    # `nsenter` execs: $! is the server's own PID.
    nsenter --net=/run/netns/"$lab-w" "$py" "$work/web.py" </dev/null >>"$work/web.log" 2>&1 &
    web_pid=$!
    disown
    local seen="" end=$(( $(now_us) + 10000000 ))
    until seen=$(inlab curl -s --max-time 1 "$probe_url") && [[ $seen == 203.0.113.10 ]]; do
        (( $(now_us) < end )) || { echo "check.sh: web server not answering the host: '$seen' $(cat "$work/web.log")" >&2; exit 1; }
        sleep 0.05
    done
}
# Brings moat down (if it has state), kills what a failed run left (moat's
# containers by their recorded PIDs, anything in the lab's namespaces) and
# deletes the lab.
lab_down() {
    local - l=$1 p ns
    set +e
    if [[ -d $work/state-${l##*-} ]]; then
        q nsenter --net=/run/netns/"$l-h" "$moat" --state-dir "$work/state-${l##*-}" down -q
    fi
    while read -r p; do
        [[ -n $p && $(readlink "/proc/$p/exe" 2>/dev/null) == "$moat" ]] && kill -9 "$p"
    done <"$work/moat-pids"
    [[ -n ${web_pid:-} ]] && kill -9 "$web_pid" 2>/dev/null
    web_pid=""
    for ns in $(ip netns list | awk -v p="$l-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    lab=""
}
# "NAME PID EGRESS" per container, from `moat status --json`.
containers() {
    moatc status --json 2>/dev/null | "$py" -c '
import json, sys
try:
    for c in json.load(sys.stdin)["containers"]:
        print(c["name"], c.get("pid") or 0, c.get("egress", ""))
except Exception: pass' || true
}

# What the lab's host namespace holds beyond lo and the uplink; "" when clean.
residue() {
    local links fw left=()
    links=$(lab_extra_links "$lab-h")
    [[ -n $links ]] && left+=("$links")
    fw=$(lab_firewall "$lab-h")
    [[ -n $fw ]] && left+=("$fw")
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

gen_config() {  # N
    local i
    {
        printf '[check]\nprobe = "%s"\n\n' "$probe_url"
        printf '[networks.bench]\nsubnet = "10.180.0.0/16"\negress = "nat"\n'
        for i in $(seq "$1"); do
            printf '\n[containers.c%d]\nprivateNetwork = true\nhostBridge = "bench"\n' "$i"
            (( i % 2 == 0 )) && printf 'egress = "none"\n'
            printf '[containers.c%d.services.s]\nexec = ["/bin/sleep", "infinity"]\n' "$i"
        done
    } >"$work/moat.toml"
}

# The by-hand loop, written once per size with the PIDs filled in: one line
# "NAME EGRESS CURL-EXIT ANSWER" per container into the log.
gen_byhand() {
    local name pid egress
    {
        echo "set +e"
        while read -r name pid egress; do
            echo "a=\$(nsenter -t $pid -n curl -s --max-time $byhand_timeout $probe_url); echo \"$name $egress \$? \$a\""
        done <"$work/containers"
    } >"$work/byhand.sh"
}
# What the by-hand loop found: "K of M nat answered 203.0.113.10; K of M none blocked (curl exit ...)".
judge_byhand() {
    awk '$2 == "nat" { n++; if ($3 == 0 && $4 == "203.0.113.10") ok++ }
         $2 == "none" { m++; if ($3 != 0) { b++; codes[$3]++ } }
         END {
             s = ""
             if (n) s = sprintf("%d of %d nat answered 203.0.113.10", ok, n)
             if (m) {
                 c = ""; for (k in codes) c = c (c == "" ? "" : ",") k
                 s = s (s == "" ? "" : "; ") sprintf("%d of %d none blocked (curl exit %s)", b, m, c == "" ? "-" : c)
             }
             print s
         }' "$work/log"
}
# An untimed `moat check --json`, summarised: "CHECKS checks, FAILED failed; K of M
# nat seen as 203.0.113.10; K of M none blocked; leak: EVIDENCE".
judge_json() {
    moatc check --json 2>/dev/null | "$py" -c '
import collections, json, sys
try:
    j = json.load(sys.stdin)
except Exception as e:
    print("no JSON from moat check: %s" % e); sys.exit()
egress = dict(l.split()[0::2] for l in open(sys.argv[1]) if l.strip())
checks = j.get("checks", [])
failed = ["%s/%s" % (c["container"], c["check"]) for c in checks if not c["ok"]]
nat = [c for c in checks if c["check"] == "egress" and egress.get(c["container"]) == "nat"]
none = [c for c in checks if c["check"] == "egress" and egress.get(c["container"]) == "none"]
leak = sorted(set(c["evidence"] for c in checks if c["check"] == "leak"))
kinds = collections.Counter(c["check"] for c in checks)
out = ["%d checks (%s), %d failed%s" % (len(checks), " ".join("%s %d" % kv for kv in sorted(kinds.items())),
       len(failed), (": " + " ".join(failed[:5])) if failed else "")]
if nat:
    out.append("%d of %d nat seen as 203.0.113.10" % (sum("seen as 203.0.113.10" in c["evidence"] for c in nat), len(nat)))
if none:
    why = sorted(set(c["evidence"][len("blocked"):].strip(" ()") for c in none if c["evidence"].startswith("blocked")))
    out.append("%d of %d none blocked%s" % (sum(c["ok"] and c["evidence"].startswith("blocked") for c in none), len(none),
                                           (" (%s)" % " | ".join(why)) if why else ""))
if leak:
    out.append("leak: " + " | ".join(leak))
print("; ".join(out))' "$work/containers"
}

# The failures `moat check` printed (its ✗ lines), one line.
failed_lines() {
    local s
    s=$(grep -a '✗' "$work/log" | head -5 | tr '\n\t' '  ' | sed 's/  */ /g' || true)
    [[ -n $s ]] || s=$(grep -a -m1 . "$work/log" || echo "no output")
    echo "$s"
}

# --- the runs ----------------------------------------------------------------
# TSV rows: KIND N REP MICROSECONDS RC NOTE, KIND one of up, warmup, moat,
# byhand, json (NOTE: the untimed check's summary), left (NOTE: the residue),
# skip (NOTE: why a size was not measured).
results="$work/results.tsv"
: >"$results"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }
[[ -n ${REPORT_FROM:-} ]] && { cp "$REPORT_FROM" "$results"; sizes_run=""; } || sizes_run=$sizes
for n in $sizes_run; do
    echo "== N=$n" >&2
    lab_up
    gen_config "$n"
    rc=1 us=0
    read -r rc us < <(timed "$moat" --state-dir "$state" up -q -f "$work/moat.toml") || true
    containers >"$work/containers"
    awk '{ print $2 }' "$work/containers" >"$work/moat-pids"
    row up "$n" 0 "$us" "$rc" "$(wc -l <"$work/containers") containers"
    echo "   moat up: $((us / 1000)) ms (exit $rc)" >&2
    if [[ $rc != 0 ]]; then
        reason=$(grep -m1 . "$work/log" | sed "s|$work/||g" || echo "exit $rc")
        echo "   up failed: $reason" >&2
        row skip "$n" 0 0 "$rc" "moat up failed: ${reason#moat: }"
        lab_down "$lab"
        continue
    fi
    # Services may still be starting: wait for one passing check (untimed).
    # (`check` has no -q, only --quiet.) Exit 2 is a usage error: no retry.
    t0=$(now_us) tries=0 rc=1
    while (( $(now_us) - t0 < 120000000 )) && [[ $rc != 2 ]]; do
        tries=$((tries + 1))
        rc=0
        moatc check --quiet >"$work/log" 2>&1 || rc=$?
        [[ $rc == 0 ]] && break
        sleep 0.2
    done
    row warmup "$n" 0 $(( $(now_us) - t0 )) "$rc" "$tries check(s) until the first pass"
    if [[ $rc != 0 ]]; then
        [[ $rc == 2 ]] || { timed "$moat" --state-dir "$state" check >/dev/null || true; }
        reason="exit $rc: $(failed_lines)"
        echo "   check never passed: $reason" >&2
        row skip "$n" 0 0 "$rc" "moat check did not pass within 120 s after up ($tries tries): $reason"
        lab_down "$lab"
        continue
    fi
    echo "   first passing check after $tries tries" >&2
    gen_byhand
    for rep in $(seq "$reps"); do
        rc=1 us=0
        read -r rc us < <(timed "$moat" --state-dir "$state" check) || true
        note=""
        [[ $rc == 0 ]] || note="FAILED: $(failed_lines)"
        row moat "$n" "$rep" "$us" "$rc" "$note"
        echo "   rep $rep/$reps: moat check $((us / 1000)) ms (exit $rc) $note" >&2
        rc=1 us=0
        read -r rc us < <(timed . "$work/byhand.sh") || true
        note=$(judge_byhand)
        row byhand "$n" "$rep" "$us" "$rc" "$note"
        echo "   rep $rep/$reps: by hand $((us / 1000)) ms: $note" >&2
    done
    note=$(judge_json)
    row json "$n" 0 0 0 "$note"
    echo "   check --json: $note" >&2
    rc=0
    moatc down -q >"$work/log" 2>&1 || rc=$?
    leftover=$(residue)
    [[ $rc == 0 ]] || leftover="down failed (exit $rc): $(grep -m1 . "$work/log"); $leftover"
    row left "$n" 0 0 "$rc" "${leftover:-nothing}"
    echo "   after moat down, left: ${leftover:-nothing}" >&2
    lab_down "$lab"
done
if [[ -z ${REPORT_FROM:-} ]]; then
    # Nothing of ours may outlive the run: namespaces named by our id, and
    # processes of our moat copy (container inits).
    stray=$(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }' | tr '\n' ' ')
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == "$moat" ]] && stray+="pid ${p#/proc/} "
    done
    [[ -n $stray ]] && echo "check.sh: WARNING: left after the run: $stray" >&2
    mkdir -p "$(dirname "$out")"
    cp "$results" "${out%.md}.tsv"
fi

# --- the report --------------------------------------------------------------
mkdir -p "$(dirname "$out")"
"$py" - "$results" "$byhand_timeout" \
    "$(uname -r)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%d)" \
    "$(curl --version | head -1 | cut -d' ' -f1-2)" \
    "$( { [[ -x $moat ]] && "$moat" version 2>/dev/null | head -1; } || true)" >"$out" <<'PY'
import collections, statistics, sys
results, byhand_timeout, kernel, cpus, cpu, load, date, curlver, moatver = sys.argv[1:]
rows = collections.defaultdict(list)   # (kind, n) -> [(rep, seconds, rc, note)]
sizes = []
for line in open(results):
    kind, n, rep, us, rc, note = line.rstrip("\n").split("\t")
    n = int(n)
    if n not in sizes:
        sizes.append(n)
    rows[kind, n].append((int(rep), int(us) / 1e6, int(rc), note))

def ms(s):
    if s is None:
        return "n/a"
    return "%.0f ms" % (s * 1e3) if s >= 1 else "%.1f ms" % (s * 1e3)

def times(kind, n, passing=True):
    return [t for _, t, rc, _ in rows.get((kind, n), []) if rc == 0 or not passing]

def med(kind, n):
    v = times(kind, n)
    return statistics.median(v) if v else None

def rng(kind, n):
    v = times(kind, n)
    return " (%s–%s)" % (ms(min(v))[:-3], ms(max(v))) if len(v) > 1 else ""

def paired_ratio(n):
    """Median over the repetitions of by-hand time / moat time in the same repetition."""
    a = {r: t for r, t, rc, _ in rows.get(("moat", n), []) if rc == 0}
    b = {r: t for r, t, _, _ in rows.get(("byhand", n), [])}
    v = [b[r] / a[r] for r in a if r in b and a[r] > 0]
    return statistics.median(v) if v else None

def note(kind, n):
    return rows[kind, n][0][3] if rows.get((kind, n)) else ""

reps = max([r for (k, n), rs in rows.items() if k == "moat" for r, *_ in rs] or [0])
print("## moat check\n")
print("`bench/check.sh`, %s on %s: how long one full `moat check` takes for N containers, against"
      " what users do without it. Each size gets a fresh lab of namespaces: a host namespace with a"
      " fake uplink (veth, 203.0.113.10/24, default route via 203.0.113.1) to a wan namespace that"
      " holds 198.51.100.10 with a web server answering every GET with the client's address."
      " `[networks.bench]` (10.180.0.0/16, egress `nat`) with N containers, each with a"
      " `sleep infinity` service; every second one (c2, c4, ...) has `egress = \"none\"`, so N=1 is a"
      " single NAT container and N=10 and 100 are half NAT, half confined; `[check] probe ="
      " \"http://198.51.100.10/\"`. After `moat up`, `moat check --quiet` is run until it passes once"
      " (services may still be starting); then %d repetitions of both contenders, alternating."
      " Times are wall time in the host namespace, medians with the range over the repetitions."
      % (", ".join("N=%d" % n for n in sizes), date, reps))
print("Kernel %s, %s CPUs (%s), %s, load average at the end %s. The machine is shared and noisy:"
      " the range is the noise; compare within this run.\n" % (kernel, cpus, cpu, curlver, load))
print("- **moat check**: `moat check` over every container (its exec included): static checks"
      " (init, services, link, address, route, firewall, sysctls), then the probe from inside each"
      " container, all at once — the NAT containers first, then the `none` ones while AF_PACKET"
      " captures on the host's other interfaces count any packet of theirs (the leak check). A"
      " `none` container's probe must time out, and moat waits half its probe timeout for that."
      " Every timed run must exit 0.")
print("- **by hand**: for each container in turn, `nsenter -t PID -n curl -s --max-time %s"
      " http://198.51.100.10/` (the PIDs from `moat status --json`, looked up before the clock"
      " starts). For a `none` container curl can only give up after its timeout: that is what the"
      " by-hand way costs for every confined container. It also does less: no static checks, no"
      " leak capture (a failed curl does not show that nothing left by another way), and it reads"
      " the answers only by eye.%s\n" % (byhand_timeout, (" Version: %s." % moatver) if moatver else ""))
print("| N | containers (nat / none) | moat up (once, context) | moat check | by hand | by hand / moat check |")
print("|---|---|---|---|---|---|")
failures = []
for n in sizes:
    nat, none = (n + 1) // 2, n // 2
    if rows.get(("skip", n)):
        print("| %d | %d / %d | %s | failed | n/a | n/a |" % (n, nat, none, ms(rows["up", n][0][1]) if rows.get(("up", n)) else "n/a"))
        failures.append("N=%d: %s" % (n, note("skip", n)))
        continue
    bad = [(r, rc, nt) for r, _, rc, nt in rows.get(("moat", n), []) if rc != 0]
    for r, rc, nt in bad:
        failures.append("N=%d, repetition %d: exit %d, %s" % (n, r, rc, nt))
    ratio = paired_ratio(n)
    print("| %d | %d / %d | %s | %s%s%s | %s%s | %s |" % (
        n, nat, none, ms(rows["up", n][0][1]) if rows.get(("up", n)) else "n/a",
        ms(med("moat", n)), rng("moat", n), (" — %d of %d runs failed" % (len(bad), len(rows["moat", n]))) if bad else "",
        ms(med("byhand", n)), rng("byhand", n), "%.1fx" % ratio if ratio else "n/a"))
print("\nWhat each side saw (untimed check after the repetitions; by hand from its curl exits and answers):\n")
for n in sizes:
    bits = []
    if note("json", n):
        bits.append("`moat check --json`: " + note("json", n))
    bh = sorted(set(nt for _, _, _, nt in rows.get(("byhand", n), [])))
    if bh:
        bits.append("by hand: " + " / ".join(bh))
    if rows.get(("warmup", n)):
        bits.append(note("warmup", n) + " after `moat up`")
    if rows.get(("left", n)):
        bits.append("left after `moat down`: " + note("left", n))
    print("- N=%d: %s." % (n, "; ".join(bits) if bits else "not run"))
if failures:
    print("\n**Failed checks** (a failed check is a failed benchmark):\n")
    for f in failures:
        print("- " + f)

print("\n### Target\n")
print("From issue 6: a full check of 10 containers in under 2 s, the checks running in parallel.\n")
if 10 not in sizes or med("moat", 10) is None:
    print("- n/a: no passing N=10 measurement in this run.")
else:
    v = times("moat", 10)
    bad = len(times("moat", 10, passing=False)) - len(v)
    ok = statistics.median(v) < 2 and bad == 0
    print("- N=10: median %s, slowest %s over %d repetitions%s: under 2 s **%s**." % (
        ms(statistics.median(v)), ms(max(v)), len(v),
        (", %d failed" % bad) if bad else "", "met" if ok else "not met"))
    print("- Scaling: N=1 is a single NAT container, so it has no blocked probe to wait out and no"
          " capture; with `none` containers a check lasts at least as long as their probe may take to"
          " be refused (see the evidence above), once for all of them when they run in parallel.")
    for lo, hi in zip(sizes, sizes[1:]):
        a, b = med("moat", lo), med("moat", hi)
        if lo != 1 and a is not None and b is not None:
            print("- N=%d -> N=%d: %s -> %s, %.1fx the time for %.0fx the containers." % (lo, hi, ms(a), ms(b), b / a, hi / lo))
PY
cat "$out"
