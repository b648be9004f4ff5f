#!/bin/bash
# bench/pipe.sh [OUTPUT.md] — moat pipe against spiped 1.6.2, side by side in
# one run, on 127.0.0.1 of a network namespace of its own (unshare; nothing
# outside it is touched). Prints a markdown section for docs/BENCHMARKS.md
# (and writes it to OUTPUT.md when given).
#
# A third column is the floor: a plain TCP relay pair (bench/relay_floor.cpp,
# no handshake, no crypto) in place of -e/-d. A spiped-compatible relay does
# all it does and more, so "floor / spiped" bounds the ratio one can reach in
# that run (short of batching the system calls themselves, e.g. io_uring).
#
# moat is run as $MOAT_PIPE (a command taking spiped's flags). By default it
# comes from one build directory, $MOAT_BUILD (default build/): its `moat
# pipe` if that binary works, else its tests/moat_pipe_driver, so the bench
# never mixes a stale binary from one tree with a fresh one from another.
# Needs: spiped, g++, openssl, ss. Takes a few minutes. Knobs: BULK_BYTES,
# DH_CONNS, F_CONNS, IDLE_CONNS, ROUNDS, MOAT_BUILD, MOAT_PIPE.
set -euo pipefail
if [[ ${MOAT_PIPE_BENCH_NETNS:-} != 1 ]]; then
    exec env MOAT_PIPE_BENCH_NETNS=1 unshare --net -- "$0" "$@"
fi
ip link set lo up  # the loopback of this script's own namespace
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
if [[ -z ${MOAT_PIPE:-} ]]; then
    bdir=${MOAT_BUILD:-$root/build}
    if [[ -x $bdir/moat ]] && "$bdir/moat" pipe -v >/dev/null 2>&1; then
        MOAT_PIPE="$bdir/moat pipe"
    else
        MOAT_PIPE="$bdir/tests/moat_pipe_driver pipe"
    fi
fi
SPIPED=${SPIPED:-/usr/bin/spiped}
BULK_BYTES=${BULK_BYTES:-1073741824}
DH_CONNS=${DH_CONNS:-4000}
F_CONNS=${F_CONNS:-30000}
IDLE_CONNS=${IDLE_CONNS:-1000}
ROUNDS=${ROUNDS:-2}

work=$(mktemp -d /tmp/moat-pipe-bench-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

g++ -O2 -std=c++20 -o "$work/load" "$root/bench/pipe_load.cpp"
g++ -O2 -std=c++20 -o "$work/relay" "$root/bench/relay_floor.cpp"
head -c 32 /dev/urandom >"$work/key"
base=$((10000 + ($$ % 2000) * 10))  # below the ephemeral range (32768+)
tgt_echo=$base tgt_sink=$((base + 1)) port_e=$((base + 2)) port_d=$((base + 3))
"$work/load" echo $tgt_echo & pid_echo=$!
pids+=($pid_echo)
"$work/load" sink $tgt_sink & pids+=($!)
hz=$(getconf CLK_TCK)

wait_port() {
    for _ in $(seq 200); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.02
    done
    echo "nothing listens on $1" >&2
    return 1
}
cpu() { awk -v hz="$hz" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
cmd_of() { [[ $1 == moat ]] && echo "$MOAT_PIPE" || echo "$SPIPED"; }

# start_pair IMPL TARGET_PORT FLAGS... -> sets pid_e pid_d
start_pair() {
    local impl=$1 tport=$2
    shift 2
    if [[ $impl == floor ]]; then
        "$work/relay" $port_d $tport & pid_d=$!
        "$work/relay" $port_e $port_d & pid_e=$!
        pids+=($pid_d $pid_e)
        wait_port $port_d && wait_port $port_e
        return
    fi
    local cmd
    cmd=$(cmd_of "$impl")
    $cmd -d -s 127.0.0.1:$port_d -t 127.0.0.1:$tport -k "$work/key" -F "$@" & pid_d=$!
    pids+=($pid_d)
    $cmd -e -s 127.0.0.1:$port_e -t 127.0.0.1:$port_d -k "$work/key" -F "$@" & pid_e=$!
    pids+=($pid_e)
    wait_port $port_d && wait_port $port_e
}
stop_pair() {
    kill "$pid_e" "$pid_d" 2>/dev/null || true
    sleep 0.3
    kill -9 "$pid_e" "$pid_d" 2>/dev/null || true
    wait "$pid_e" "$pid_d" 2>/dev/null || true
}

# Each measurement runs spiped and moat back to back, ROUNDS times, keeping
# the best round of each: on a shared machine the load drifts, and
# alternating keeps that drift from favouring either side.
better() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { exit !(b > a) }'; }
declare -A r
us_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (b - a) / n * 1e6 }'; }
for round in $(seq "$ROUNDS"); do
    for impl in spiped moat floor; do
        echo "== round $round: $impl bulk" >&2
        start_pair $impl $tgt_sink
        ce=$(cpu $pid_e) cd=$(cpu $pid_d)
        mib=$("$work/load" bulk $port_e "$BULK_BYTES")
        gib=$(awk -v b="$BULK_BYTES" 'BEGIN { print b / 2^30 }')
        if better "${r[$impl,bulk]:-}" "$mib"; then
            r[$impl,bulk]=$mib
            r[$impl,cpu_e]=$(awk -v a="$ce" -v b="$(cpu $pid_e)" -v g="$gib" 'BEGIN { printf "%.2f", (b - a) / g }')
            r[$impl,cpu_d]=$(awk -v a="$cd" -v b="$(cpu $pid_d)" -v g="$gib" 'BEGIN { printf "%.2f", (b - a) / g }')
        fi
        stop_pair
    done
    for mode in dh f; do
        # The floor has no handshake: it is measured once, against -f.
        for impl in spiped moat $([[ $mode == f ]] && echo floor); do
            echo "== round $round: $impl connections ($mode)" >&2
            if [[ $mode == f && $impl != floor ]]; then start_pair $impl $tgt_echo -f; n=$F_CONNS; else start_pair $impl $tgt_echo; n=$DH_CONNS; fi
            [[ $impl == floor ]] && n=$F_CONNS
            ce=$(cpu $pid_e) cd=$(cpu $pid_d) ct=$(cpu $pid_echo)
            read -r rate p50 p99 failed lcpu < <("$work/load" conns $port_e "$n" 8)
            if better "${r[$impl,$mode]:-}" "$rate"; then
                r[$impl,$mode]=$rate r[$impl,${mode}50]=$p50 r[$impl,${mode}99]=$p99 r[$impl,${mode}fail]=$failed
                # CPU per connection of each process: where a connection's cost goes.
                r[$impl,${mode}us_e]=$(us_per "$ce" "$(cpu $pid_e)" "$n")
                r[$impl,${mode}us_d]=$(us_per "$cd" "$(cpu $pid_d)" "$n")
                r[$impl,${mode}us_ends]=$(us_per "$ct" "$(awk -v a="$(cpu $pid_echo)" -v b="$lcpu" 'BEGIN { print a + b }')" "$n")
            fi
            stop_pair
        done
    done
done

for impl in spiped moat; do
    echo "== $impl idle memory" >&2
    start_pair $impl $tgt_echo -n 0
    "$work/load" conns $port_e 50 8 >/dev/null  # warm up lazily allocated state
    me=$(rss $pid_e) md=$(rss $pid_d)
    coproc idle { "$work/load" idle $port_e "$IDLE_CONNS"; }
    read -r ready <&"${idle[0]}"
    r[$impl,mem_e]=$(awk -v a="$me" -v b="$(rss $pid_e)" -v n="$IDLE_CONNS" 'BEGIN { printf "%.1f", (b - a) / n }')
    r[$impl,mem_d]=$(awk -v a="$md" -v b="$(rss $pid_d)" -v n="$IDLE_CONNS" 'BEGIN { printf "%.1f", (b - a) / n }')
    exec {idle[1]}>&-
    wait "$idle_PID" 2>/dev/null || true
    stop_pair
done

# The crypto bound: one packet = AES-256-CTR over 1028 bytes + HMAC over 1036.
speed() { openssl speed -seconds 2 -bytes "$2" $1 2>/dev/null | awk 'END { v = $NF; sub("k", "", v); print v * 1000 }'; }
aes=$(speed "-evp aes-256-ctr" 1028)
hmac=$(speed "-hmac sha256" 1036)
bound=$(awk -v a="$aes" -v h="$hmac" 'BEGIN { t = 1028 / a + 1036 / h; printf "%.0f MiB/s per direction per core (%.2f µs per packet; AES-256-CTR %.0f MB/s, HMAC-SHA256 %.0f MB/s)", 1024 / t / 2^20, t * 1e6, a / 1e6, h / 1e6 }')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# The CPU floor of one side per GiB: the plain relay's cost plus the crypto
# of 1,048,576 packets at the bound measured above.
crypto_s=$(awk -v a="$aes" -v h="$hmac" 'BEGIN { printf "%.2f", 1048576 * (1028 / a + 1036 / h) }')
floor_cpu() { awk -v r="$1" -v c="$crypto_s" 'BEGIN { printf "%.2f", r + c }'; }
per_conn() { echo "${r[$1,fus_e]} / ${r[$1,fus_d]} / ${r[$1,fus_ends]}"; }
report=$(cat <<MD
## moat pipe vs spiped $($SPIPED -v 2>&1 | awk '{ print $2 }')

Measured by \`bench/pipe.sh\` on $(date -u +%Y-%m-%d), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),
on the loopback of a namespace of its own, all three in the same run (best of $ROUNDS alternating rounds),
\`-e\` -> \`-d\` -> a local target. The floor is a plain TCP relay pair (\`bench/relay_floor.cpp\`: no
handshake, no crypto) in place of \`-e\`/\`-d\`. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared).

| what | spiped | moat | moat / spiped | floor | floor / spiped |
|---|---|---|---|---|---|
| bulk throughput, $(awk -v b="$BULK_BYTES" 'BEGIN { print b / 2^30 }') GiB one way | ${r[spiped,bulk]} MiB/s | ${r[moat,bulk]} MiB/s | $(ratio ${r[moat,bulk]} ${r[spiped,bulk]}) | ${r[floor,bulk]} MiB/s | |
| CPU-s per GiB, \`-e\` side | ${r[spiped,cpu_e]} | ${r[moat,cpu_e]} | | ${r[floor,cpu_e]} + crypto $crypto_s = $(floor_cpu ${r[floor,cpu_e]}) | |
| CPU-s per GiB, \`-d\` side | ${r[spiped,cpu_d]} | ${r[moat,cpu_d]} | | ${r[floor,cpu_d]} + crypto $crypto_s = $(floor_cpu ${r[floor,cpu_d]}) | |
| connections/s with DH, 8 in flight | ${r[spiped,dh]} | ${r[moat,dh]} | $(ratio ${r[moat,dh]} ${r[spiped,dh]}) | | |
| connect+echo latency with DH, p50 / p99 | ${r[spiped,dh50]} / ${r[spiped,dh99]} ms | ${r[moat,dh50]} / ${r[moat,dh99]} ms | | | |
| connections/s with \`-f\`, 8 in flight | ${r[spiped,f]} | ${r[moat,f]} | $(ratio ${r[moat,f]} ${r[spiped,f]}) | ${r[floor,f]} | $(ratio ${r[floor,f]} ${r[spiped,f]}) |
| connect+echo latency with \`-f\`, p50 / p99 | ${r[spiped,f50]} / ${r[spiped,f99]} ms | ${r[moat,f50]} / ${r[moat,f99]} ms | | ${r[floor,f50]} / ${r[floor,f99]} ms | |
| CPU µs per \`-f\` connection: \`-e\` / \`-d\` / client+target | $(per_conn spiped) | $(per_conn moat) | | $(per_conn floor) | |
| failed connections (DH / \`-f\`) | ${r[spiped,dhfail]} / ${r[spiped,ffail]} | ${r[moat,dhfail]} / ${r[moat,ffail]} | | ${r[floor,ffail]} | |
| RSS per idle connection, \`-e\` / \`-d\` ($IDLE_CONNS open) | ${r[spiped,mem_e]} / ${r[spiped,mem_d]} KiB | ${r[moat,mem_e]} / ${r[moat,mem_d]} KiB | | | |

Crypto bound (\`openssl speed\`, one core): $bound.
MD
)
echo "$report"
[[ -n $out ]] && echo "$report" >"$out"
exit 0
