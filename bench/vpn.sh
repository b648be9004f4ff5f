#!/bin/bash
# bench/vpn.sh [OUTPUT.md] — VPN egress (issue 5): for a WireGuard and an
# OpenVPN tunnel,
#
#   1. up -> first packet   from the start of `moat up` to the first TCP
#                           connection from the confined container through
#                           the tunnel to a web server behind the VPN server;
#   2. kill -9 -> traffic   from SIGKILL of the tunnel daemon (wireguard-go
#                           or openvpn, started by moat) to the first
#                           connection through the restarted tunnel;
#   3. data path            iperf3 TCP throughput, iperf3 UDP packet rate
#                           (64-byte datagrams, unlimited rate, counted at
#                           the receiver) and `ping -f` round trips from the
#                           container, against the same tunnel set up by hand
#                           without moat (the client in the host namespace, a
#                           veth to a "container" namespace, one `ip rule`,
#                           one route, one masquerade).
#
# The lab (LAB.md; all throw-away namespaces, nothing in the root namespace):
#   W  fake internet: bridge 203.0.113.1/24, web server and iperf3 server on
#      198.51.100.10 (on lo)
#   V  VPN server 203.0.113.2: wireguard-go (10.9.0.1/24, udp 51820) and
#      openvpn 2.6 (10.8.0.1/24, udp 1194, tls-crypt), NATs tunnels out
#   H  the host moat manages: uplink 203.0.113.10/24, default via .1;
#      moat runs there with `nsenter --net` (not `ip netns exec`, which hides
#      cgroup2), with its own --state-dir
#   M  the hand-made "container" for the baseline (10.171.1.2, veth to H)
# Every repetition builds a fresh lab and checks that `moat down` left
# nothing in H (links, nft, ip rules, processes).
#
# Probes: bench/vpn_probe.cpp (compiled by this script; it starts in about
# a millisecond, where the Python loop it replaced took 35-100 ms here)
# inside the container (`moat exec`, or the container's own service) opens a
# new non-blocking TCP connection to 198.51.100.10:80 every 10 ms, keeps
# earlier ones pending, and prints the wall-clock time at which the first one
# completes; the clock is CLOCK_REALTIME, shared with the host side.
#
# The by-hand baseline also times its own start (issue 14: moat's up -> first
# packet against the same daemon started by hand): from the start of the
# daemon, with M, its rule, masquerade and an `unreachable` default in table
# 100 already in place (the kill switch moat's table has too), to the first
# connection of the same probe from M; the daemon is configured as a person
# would (wireguard-go, then `wg setconf`, `ip addr`, `ip link set up` and
# the route; openvpn with the same .ovpn and an --up script adding the
# route), the probe running from the daemon's start. Both clocks start at
# an exec, written by `vpn_probe stamp` just before it: of `moat up`, and of
# the daemon (for WireGuard the `unshare` that isolates its /run) by hand.
# They used to start before this script forked towards them, which took
# 15-20 ms a fork here: once for moat, twice (the probe, then the daemon)
# by hand.
#
# Knobs: REPS (default 5), TYPES (default "wireguard openvpn"), SECS (iperf3
# duration, default 5), MOAT (default build/moat, copied), REPORT_FROM=TSV
# renders the report from earlier raw measurements (OUTPUT.tsv beside it),
# KEEP=1 keeps the work directory (logs, raw iperf3/ping output) for a look,
# STARTUP_ONLY=1 measures only up -> first packet (moat and by hand; no
# kill -9, no data path), for many repetitions in little time.
# PROBE=service (STARTUP_ONLY) runs moat's probe as the container's own
# service instead of through `moat exec` once the container runs: the first
# packet of what the container itself runs, without the exec's own start
# (and without this script running anything beside `moat up`).
# MOAT_BEFORE=PATH (with STARTUP_ONLY) also measures that binary's up -> first
# packet in the same labs (rows "before"; e.g. the landed tree's build/moat
# against this one's), the three contenders rotating which goes first.
# RESTART_ONLY=1 (issue 17) measures only kill -9 -> first packet under moat
# against the same daemon's own start -> first packet by hand (no data path);
# the report compares the two per repetition (target: within 50 ms).
# moat's state directories live on a tmpfs (/dev/shm), as its default
# /run/moat does on a usual system; STATE_ON_DISK=1 puts them beside the
# work directory under /tmp, where every record save waits for the disk
# (up of one confined container: 11 fsyncs, 0.5-4 ms each on this ext4).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/results/vpn.md}
reps=${REPS:-5}
types=${TYPES:-"wireguard openvpn"}
secs=${SECS:-5}
startup_only=${STARTUP_ONLY:-}
restart_only=${RESTART_ONLY:-}
[[ $(id -u) == 0 ]] || { echo "run as root (network namespaces)" >&2; exit 1; }
if ! command -v iperf3 wg wireguard-go openvpn openssl nft ping >/dev/null; then
    "$root/scripts/deps.sh" --bench
fi
q() { "$@" >/dev/null 2>&1; }
py=/usr/bin/python3  # the container sees the host's root read-only; no pyenv shims there

id="mvb$$"
work=$(mktemp -d /tmp/moat-vpnbench.XXXXXX)
if [[ ${STATE_ON_DISK:-0} == 1 ]]; then states=$work; else states=$(mktemp -d /dev/shm/moat-vpnbench-state.XXXXXX); fi
trap 'rm -rf "$work" "$states"' EXIT  # until cleanup's trap: an early exit leaves nothing
chmod 755 "$work"
moat="$work/moat"
if [[ -z ${REPORT_FROM:-} ]]; then
    # A copy, so a rebuild mid-run does not matter; retried if caught mid-link.
    for _ in 1 2 3 4 5; do
        cp "${MOAT:-$root/build/moat}" "$moat" 2>/dev/null && chmod 755 "$moat" && q "$moat" version && break
        sleep 3
    done
    q "$moat" version || { echo "no working moat binary at ${MOAT:-$root/build/moat}" >&2; exit 1; }
    if [[ -n ${MOAT_BEFORE:-} ]]; then
        [[ -n $startup_only ]] || { echo "MOAT_BEFORE needs STARTUP_ONLY=1" >&2; exit 1; }
        cp "$MOAT_BEFORE" "$work/moat-before" && chmod 755 "$work/moat-before" && q "$work/moat-before" version ||
            { echo "no working moat binary at $MOAT_BEFORE" >&2; exit 1; }
    fi
fi
who=moat  # the row's name: "before" while MOAT_BEFORE's binary runs
pids=()  # daemons we started (their own PIDs)
lab=""
cleanup() {
    set +e
    [[ -n $lab ]] && lab_down
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    for ns in $(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    [[ -n ${KEEP:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
    [[ -z ${probe_dir:-} ]] || rm -rf "$probe_dir"
    [[ $states == "$work" ]] || rm -rf "$states"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
in_h() { nsenter --net=/run/netns/"$lab-h" "$@"; }
in_v() { nsenter --net=/run/netns/"$lab-v" "$@"; }
in_w() { nsenter --net=/run/netns/"$lab-w" "$@"; }
in_m() { nsenter --net=/run/netns/"$lab-m" "$@"; }
moatc() { in_h "$moat" --state-dir "$state" "$@"; }
die() { echo "vpn.sh: $*" >&2; exit 1; }
# until_ok SECONDS CMD...: retries CMD every 10 ms; fails after SECONDS.
until_ok() {
    local end=$(( $(now_us) + $1 * 1000000 )); shift
    until "$@" >/dev/null 2>&1; do
        (( $(now_us) < end )) || return 1
        sleep 0.01
    done
}

# --- keys and configs (once) ---------------------------------------------------
pki="$work/pki"
make_keys() {
    mkdir -p "$pki"
    (
        set -e
        umask 077
        cd "$pki"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -subj /CN=moat-bench-ca -days 30 -out ca.crt \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        for who in server client; do
            eku=serverAuth; [[ $who == client ]] && eku=clientAuth
            printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' $eku >$who.ext
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $who.key 2>/dev/null
            openssl req -new -key $who.key -subj /CN=moat-bench-$who -out $who.csr
            openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
                -extfile $who.ext -out $who.crt 2>/dev/null
        done
        openvpn --genkey tls-crypt tc.key
        for who in server client; do wg genkey >wg-$who.key; wg pubkey <wg-$who.key >wg-$who.pub; done
    ) || die "making keys failed"
    cat >"$pki/server.conf" <<EOF
local 203.0.113.2
port 1194
proto udp4
dev tun0
disable-dco
topology subnet
server 10.8.0.0 255.255.255.0
dh none
ca ca.crt
cert server.crt
key server.key
tls-crypt tc.key
duplicate-cn
keepalive 2 10
push "redirect-gateway def1"
push "dhcp-option DNS 10.8.0.1"
verb 3
EOF
    # The client files moat gets (wg-quick format; .ovpn with inline PEMs).
    cat >"$work/client.conf" <<EOF
[Interface]
PrivateKey = $(cat "$pki/wg-client.key")
Address = 10.9.0.2/32
DNS = 10.9.0.1

[Peer]
PublicKey = $(cat "$pki/wg-server.pub")
Endpoint = 203.0.113.2:51820
AllowedIPs = 0.0.0.0/0
EOF
    # The same peer for `wg setconf` (the baseline): no Address/DNS lines.
    grep -v -e '^Address' -e '^DNS' "$work/client.conf" >"$work/client-wg.conf"
    {
        printf 'client\ndev tun\nproto udp4\nremote 203.0.113.2 1194\nnobind\nremote-cert-tls server\nverb 3\n'
        printf '<ca>\n%s\n</ca>\n' "$(cat "$pki/ca.crt")"
        printf '<cert>\n%s\n</cert>\n' "$(cat "$pki/client.crt")"
        printf '<key>\n%s\n</key>\n' "$(cat "$pki/client.key")"
        printf '<tls-crypt>\n%s\n</tls-crypt>\n' "$(cat "$pki/tc.key")"
    } >"$work/client.ovpn"
    chmod 600 "$work/client.conf" "$work/client-wg.conf" "$work/client.ovpn"
    for t in wireguard openvpn; do
        f=$work/client.conf dns=""
        [[ $t == openvpn ]] && f=$work/client.ovpn dns='dns = ["10.8.0.1"]'
        cat >"$work/moat-$t.toml" <<EOF
[tunnels.vpn0]
type = "$t"
config = "$f"

[containers.c]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
egress = "vpn:vpn0"
$dns

[containers.c.services.main]
EOF
        if [[ ${PROBE:-exec} == service ]]; then
            printf 'exec = ["%s", "service", "%s", "%s"]\n' "$probe_bin" "${web[@]}" >>"$work/moat-$t.toml"
        else
            echo 'exec = ["/bin/sleep", "infinity"]' >>"$work/moat-$t.toml"
        fi
    done
}

# The web server: answers every connection with the address it sees.
cat >"$work/web.py" <<'PY'
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.10", 80))
s.listen(4096)
while True:
    c, a = s.accept()
    try:
        c.sendall((a[0] + "\n").encode())
    except OSError:
        pass
    c.close()
PY
# The probe (bench/vpn_probe.cpp, compiled once): the time of the first
# completed connection to the web server. It lives in a directory of the
# repository, which the container sees (its /tmp and /var/tmp are its own).
probe_bin=""
if [[ -z ${REPORT_FROM:-} ]]; then
    probe_dir=$(mktemp -d "$root/bench/.vpn-probe.XXXXXX")
    chmod 755 "$probe_dir"
    g++ -O2 -std=c++20 -o "$probe_dir/vpn_probe" "$root/bench/vpn_probe.cpp" || die "compiling bench/vpn_probe.cpp failed"
    probe_bin=$probe_dir/vpn_probe
fi
web=(198.51.100.10 80)

# --- the lab ---------------------------------------------------------------------
run_no=0
lab_up() {
    run_no=$((run_no + 1))
    lab="$id-$run_no"
    state="$states/state-$run_no"
    local ns
    for ns in w v h; do ip netns add "$lab-$ns"; ip -n "$lab-$ns" link set lo up; done
    # W: a bridge for the segment 203.0.113.0/24, the servers on lo.
    ip -n "$lab-w" link add br0 type bridge
    ip -n "$lab-w" addr add 203.0.113.1/24 dev br0
    ip -n "$lab-w" addr add 198.51.100.10/32 dev lo
    ip -n "$lab-w" link set br0 up
    ip -n "$lab-h" link add up0 type veth peer name wh0 netns "$lab-w"
    ip -n "$lab-v" link add vp0 type veth peer name wv0 netns "$lab-w"
    for l in wh0 wv0; do ip -n "$lab-w" link set "$l" master br0 up; done
    ip -n "$lab-h" addr add 203.0.113.10/24 dev up0
    ip -n "$lab-v" addr add 203.0.113.2/24 dev vp0
    ip -n "$lab-h" link set up0 up
    ip -n "$lab-v" link set vp0 up
    ip -n "$lab-h" route add default via 203.0.113.1
    ip -n "$lab-v" route add default via 203.0.113.1
    in_v sysctl -qw net.ipv4.ip_forward=1
    in_v nft -f - <<'EOF'
table ip vpnbench {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr { 10.8.0.0/24, 10.9.0.0/24 } oifname "vp0" masquerade
  }
}
EOF
    # Servers; `nsenter` execs, so $! is the daemon's own PID (not a function: that would be a subshell).
    # Every daemon, here and below, gets a session of its own (setsid; without job control the
    # background child is no group leader, so setsid execs in place): with the kernel's autogroup
    # scheduling the CPU is shared between sessions first, and a daemon left in this script's
    # session would share it with the iperf3 client instead of competing as one service, as
    # moat's tunnel daemon does. That alone made the by-hand WireGuard client look 1.9x faster.
    setsid nsenter --net=/run/netns/"$lab-w" "$py" "$work/web.py" </dev/null >>"$work/web.log" 2>&1 &
    pids+=($!); disown
    setsid nsenter --net=/run/netns/"$lab-w" iperf3 -s -B 198.51.100.10 </dev/null >>"$work/iperf3-server.log" 2>&1 &
    pids+=($!); disown
    # wireguard-go in its own mount namespace: /run/wireguard is shared otherwise.
    setsid nsenter --net=/run/netns/"$lab-v" unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec wireguard-go -f wgs0' </dev/null >>"$work/wgs.log" 2>&1 &
    local wgs=$!; disown
    pids+=("$wgs")
    until_ok 5 test -S "/proc/$wgs/root/run/wireguard/wgs0.sock" || die "wireguard-go server did not start"
    nsenter -t "$wgs" -m -n wg set wgs0 listen-port 51820 private-key "$pki/wg-server.key" \
        peer "$(cat "$pki/wg-client.pub")" allowed-ips 10.9.0.2/32
    ip -n "$lab-v" addr add 10.9.0.1/24 dev wgs0
    ip -n "$lab-v" link set wgs0 up
    : >"$work/ovpns.log"
    (cd "$pki" && exec setsid nsenter --net=/run/netns/"$lab-v" openvpn --cd "$pki" --config "$pki/server.conf" \
        --log "$work/ovpns.log" </dev/null >/dev/null 2>&1) &
    pids+=($!); disown
    until_ok 10 grep -q "Initialization Sequence Completed" "$work/ovpns.log" || die "openvpn server did not start: $(tail -5 "$work/ovpns.log")"
    until_ok 5 bash -c "nsenter --net=/run/netns/$lab-w ss -Hltn | grep -q ':5201'" || die "iperf3 server did not start"
    until_ok 5 bash -c "nsenter --net=/run/netns/$lab-w ss -Hltn | grep -q '198.51.100.10:80'" || die "web server did not start"
}
lab_down() {
    local - ns p
    set +e
    [[ -d $state ]] && q moatc down -q
    manual_down 2>/dev/null
    for ns in $(ip netns list | awk -v p="$lab-" 'index($1, p) == 1 { print $1 }'); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    pids=()
    lab=""
}

# Processes whose network namespace is H's (moat's tunnel daemons run there).
h_procs() {  # COMM-REGEX CMDLINE-SUBSTRING
    local hino p
    hino=$(stat -L -c %i /run/netns/"$lab-h")
    for p in /proc/[0-9]*; do
        [[ $(stat -L -c %i "$p/ns/net" 2>/dev/null) == "$hino" ]] || continue
        [[ $(cat "$p/comm" 2>/dev/null) =~ $1 ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$2" || continue
        echo "${p#/proc/}"
    done
}

# What H holds beyond lo and up0 after teardown; "" when clean.
residue() {
    local links fw rules procs left=()
    links=$(ip -n "$lab-h" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); if ($2 != "lo" && $2 != "up0") print $2 }')
    [[ -n $links ]] && left+=("links: $(tr '\n' ' ' <<<"$links")")
    fw=$(in_h nft list ruleset 2>/dev/null | grep -c '^table' || true)
    [[ $fw != 0 ]] && left+=("$fw nft tables")
    rules=$(ip -n "$lab-h" -4 rule show | grep -vc -e '^0:' -e '^32766:' -e '^32767:' || true)
    [[ $rules != 0 ]] && left+=("$rules ip rules")
    procs=$(h_procs '^(moat|wireguard-go|openvpn|sleep)$' "" | wc -l)
    [[ $procs != 0 ]] && left+=("$procs processes")
    if [[ -d $state ]] && [[ -n $(find "$state" -mindepth 1 -name '*.json' -print -quit 2>/dev/null) ]]; then
        left+=("state files")
    fi
    local IFS=';'
    echo "${left[*]}"
}

# --- the measurements ------------------------------------------------------------
# data_path: iperf3 TCP and UDP and ping -f, run by the command prefix in
# ${run[@]} (moat exec, or nsenter into M); prints "TCP_BPS UDP_PPS
# PING_RTT_MS PING_LOSS_PERCENT" (-1: failed). Raw outputs in $work/dp.*.
data_path() {
    local tcp udp rtt loss
    "${run[@]}" iperf3 -c 198.51.100.10 -t "$secs" -J >"$work/dp.tcp" 2>&1 || true
    tcp=$("$py" -c '
import json, sys
print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$work/dp.tcp" 2>/dev/null) || tcp=-1
    "${run[@]}" iperf3 -c 198.51.100.10 -t "$secs" -u -b 0 -l 64 -J >"$work/dp.udp" 2>&1 || true
    udp=$("$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
print(int((s["packets"] - s["lost_packets"]) / s["seconds"]))' "$work/dp.udp" 2>/dev/null) || udp=-1
    "${run[@]}" ping -f -q -c 2000 -w 20 198.51.100.10 >"$work/dp.ping" 2>&1 || true
    rtt=$(awk -F'/' '/^rtt/ { print $5 }' "$work/dp.ping")
    loss=$(grep -o '[0-9.]*% packet loss' "$work/dp.ping" | cut -d% -f1)
    echo "$tcp $udp ${rtt:--1} ${loss:--1}"
}

# route_after US [gone]: the wall time (microseconds) at which `ip -ts
# monitor route link` (started in H by bench_moat) saw "default dev
# tn-vpn0" added to the tunnel's table (with "dev": the device created;
# with "gone": the device deleted — the kernel drops its routes without a
# message of their own) at or after US; -1 if it did not.
route_after() {
    "$py" - "$1" "$work/routemon" "${2:-}" <<'PY'
import datetime, re, sys
after = int(sys.argv[1])
what = re.compile({"gone": r"\] Deleted \d+: tn-vpn0[:@]", "dev": r"\] \d+: tn-vpn0[:@]"}.get(
    sys.argv[3], r"\] default dev tn-vpn0 "))
for line in open(sys.argv[2]):
    if not line.startswith("[") or not what.search(line):
        continue
    us = int(datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp() * 1e6)
    if us >= after:
        print(us)
        break
else:
    print(-1)
PY
}
# stamp_us FILE: the microseconds `vpn_probe stamp FILE ...` wrote just
# before it executed the command timed (moat, or the daemon by hand).
stamp_us() {
    local s
    read -r s <"$1" || die "no time stamp in $1"
    echo "${s/./}"
}
# field NAME FILE: the microseconds of the probe's line "NAME SECONDS.MICRO ...".
field() {
    local line
    line=$(grep -m1 "^$1 " "$2") || return 1
    line=${line#"$1 "}
    line=${line%% *}
    echo "${line/./}"
}

# moat: up -> first packet, traffic check, kill -9 -> traffic, data path, down.
bench_moat() {  # TYPE REP
    local t=$1 rep=$2 t0 t1=0 up_us upid rc pid newpid kill_us dp check left ppid end
    local probe_us first_us first_fails route_us dev_us down_us restart_us route2_us
    mkdir -p "$state"
    rm -f "$work/up.done"
    : >"$work/probe.out"
    nsenter --net=/run/netns/"$lab-h" ip -ts -o monitor route link >"$work/routemon" 2>/dev/null &
    local mon=$!; disown
    pids+=("$mon")
    sleep 0.2  # listening
    t0=$(now_us)
    rm -f "$work/up.stamp"
    ( in_h "$probe_bin" stamp "$work/up.stamp" "$moat" --state-dir "$state" up -q -f "$work/moat-$t.toml" >"$work/up.log" 2>&1; rc=$?
      echo "$rc $(now_us)" >"$work/up.done" ) &
    upid=$!
    # The probe starts as soon as `moat exec` finds the container running,
    # or (PROBE=service) is the container's own service: its lines are read
    # from `moat logs c` once `moat up` returned, they carry their own times.
    # Nothing of this script's runs beside that `up` then: a `moat logs`
    # every 50 ms during it made the daemon start 12-15 ms later.
    end=$(( t0 + 30000000 ))
    if [[ ${PROBE:-exec} == service ]]; then wait "$upid" || true; fi
    while (( $(now_us) < end )); do
        if [[ ${PROBE:-exec} == service ]]; then
            moatc logs c 2>/dev/null | grep -oE '(start|ok) [0-9.]+( [0-9]+)?' >"$work/probe.out" || true
            grep -q '^ok' "$work/probe.out" && break
            sleep 0.05
            continue
        fi
        moatc exec c -- "$probe_bin" up "${web[@]}" >"$work/probe.out" 2>>"$work/probe.err" && break
        grep -q '^ok' "$work/probe.out" && break
        sleep 0.01
    done
    wait "$upid" || true
    read -r rc t1 <"$work/up.done" || die "moat up did not finish"
    [[ $rc == 0 ]] || die "moat up failed (exit $rc): $(cat "$work/up.log")"
    t0=$(stamp_us "$work/up.stamp")  # from the exec of `moat up` on
    up_us=$(( t1 - t0 ))
    first_us=$(field ok "$work/probe.out") ||
        die "$t: no traffic through the tunnel after moat up: $(tail -3 "$work/probe.out" "$work/probe.err" 2>/dev/null)"
    first_us=$(( first_us - t0 ))
    first_fails=$(awk '/^ok / { print $3 }' "$work/probe.out")
    probe_us=$(( $(field start "$work/probe.out") - t0 ))
    route_us=$(route_after "$t0")
    (( route_us < 0 )) || route_us=$(( route_us - t0 ))
    dev_us=$(route_after "$t0" dev)
    (( dev_us < 0 )) || dev_us=$(( dev_us - t0 ))
    # Untimed: the web server sees the VPN server's address.
    check=$(moatc exec c -- nc -w 2 198.51.100.10 80 2>/dev/null || true)
    [[ $check == 203.0.113.2 ]] || die "$t: the web server saw '${check}' from the container, expected 203.0.113.2"

    if [[ -n $startup_only ]]; then
        kill "$mon" 2>/dev/null || true
        # Where moat's time goes: the runner's "started <daemon>" line, as
        # the init stamped it (milliseconds, UTC).
        local started_us=-1 stamp
        stamp=$(moatc logs _tunnels 2>/dev/null | awk '/moat: tunnel vpn0: started / && !n { print $1; n = 1 }')
        [[ -n $stamp ]] && started_us=$(( $(date -u -d "${stamp%Z}" +%s%6N) - t0 ))
        q moatc down -q || echo "   WARNING: moat down failed" >&2
        left=$(residue)
        echo "   $who $t: up returned $((up_us / 1000)) ms, device $((dev_us / 1000)) ms, route $((route_us / 1000)) ms," \
            "daemon started $((started_us / 1000)) ms, probe started $((probe_us / 1000)) ms, first packet $((first_us / 1000)) ms" \
            "($first_fails failed before); left: ${left:-nothing}" >&2
        printf '%s\t%s\t%s\t%s\t%s\t-1\t-1\t-1\t-1\t-1\t-1\t%s\t%s\t%s\t%s\t-1\t%s\t%s\n' "$who" "$t" "$rep" "$up_us" "$first_us" \
            "${left:-nothing}" "$route_us" "$probe_us" "$first_fails" "$dev_us" "$started_us" >>"$results"
        return
    fi
    # kill -9 of the daemon; the probe says when traffic flows again.
    pid=$(h_procs "^(wireguard-go|openvpn)\$" "tn-vpn0")
    [[ $pid =~ ^[0-9]+$ ]] || die "$t: cannot find moat's tunnel daemon (got '$pid')"
    : >"$work/probe.out"
    moatc exec c -- "$probe_bin" restart "${web[@]}" >"$work/probe.out" 2>>"$work/probe.err" &
    ppid=$!
    until_ok 15 grep -q '^ready' "$work/probe.out" || die "$t: restart probe not ready: $(cat "$work/probe.out")"
    sleep 0.2
    kill_us=$(now_us)
    kill -9 "$pid"
    wait "$ppid" || true
    kill "$mon" 2>/dev/null || true
    restart_us=$(field ok "$work/probe.out") || die "$t: no traffic after the daemon's restart: $(cat "$work/probe.out")"
    restart_us=$(( restart_us - kill_us ))
    grep -q '^down ' "$work/probe.out" || die "$t: the probe never saw the tunnel down"
    down_us=$(route_after "$kill_us" gone)
    (( down_us < 0 )) || down_us=$(( down_us - kill_us ))
    route2_us=$(route_after "$kill_us")
    (( route2_us < 0 )) || route2_us=$(( route2_us - kill_us ))
    newpid=$(h_procs "^(wireguard-go|openvpn)\$" "tn-vpn0")
    [[ -n $newpid && $newpid != "$pid" ]] || echo "   WARNING: no new daemon after the kill ($newpid)" >&2

    if [[ -n $restart_only ]]; then
        # When the new runner started the new daemon: its "started" line
        # after the kill, as the init stamped it (milliseconds, UTC).
        local started_us=-1 stamp
        moatc logs _tunnels >"$work/tunnels-$t-$rep.log" 2>&1 || true  # KEEP=1 keeps it
        stamp=$(awk '/moat: tunnel vpn0: started / { s = $1 } END { print s }' "$work/tunnels-$t-$rep.log")
        [[ -n $stamp ]] && started_us=$(( $(date -u -d "${stamp%Z}" +%s%6N) - kill_us ))
        q moatc down -q || echo "   WARNING: moat down failed" >&2
        left=$(residue)
        echo "   moat $t: kill -9 -> device gone $((down_us / 1000)) ms, new daemon started $((started_us / 1000)) ms," \
            "route back $((route2_us / 1000)) ms, traffic $((restart_us / 1000)) ms; left: ${left:-nothing}" >&2
        printf 'moat\t%s\t%s\t%s\t%s\t%s\t%s\t-1\t-1\t-1\t-1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rep" "$up_us" "$first_us" \
            "$restart_us" "$down_us" "${left:-nothing}" "$route_us" "$probe_us" "$first_fails" "$route2_us" "$dev_us" \
            "$started_us" >>"$results"
        return
    fi

    run=(nsenter --net=/run/netns/"$lab-h" "$moat" --state-dir "$state" exec c --)
    dp=$(data_path)
    q moatc down -q || echo "   WARNING: moat down failed" >&2
    left=$(residue)
    echo "   moat $t: up returned $((up_us / 1000)) ms, device $((dev_us / 1000)) ms, route $((route_us / 1000)) ms, probe started $((probe_us / 1000)) ms," \
        "first packet $((first_us / 1000)) ms ($first_fails failed before); kill -9 -> device gone $((down_us / 1000)) ms," \
        "route back $((route2_us / 1000)) ms, traffic $((restart_us / 1000)) ms; data $dp; left: ${left:-nothing}" >&2
    printf 'moat\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rep" "$up_us" "$first_us" "$restart_us" "$down_us" \
        "$(tr ' ' '\t' <<<"$dp")" "${left:-nothing}" "$route_us" "$probe_us" "$first_fails" "$route2_us" "$dev_us" >>"$results"
}

# The baseline: the same client started by hand in H, a hand-made namespace
# M on a veth, `ip rule from 10.171.1.2 lookup 100`, table 100 "default dev
# the tunnel", masquerade on the tunnel.
mpid=""
manual_first_us=-1 manual_probe_us=-1 manual_fails=-1
manual_up() {  # TYPE
    local t=$1 dev t0 probe_pid
    ip netns add "$lab-m"
    ip -n "$lab-m" link set lo up
    ip -n "$lab-h" link add mh0 type veth peer name eth0 netns "$lab-m"
    ip -n "$lab-h" addr add 10.171.1.1/30 dev mh0
    ip -n "$lab-m" addr add 10.171.1.2/30 dev eth0
    ip -n "$lab-h" link set mh0 up
    ip -n "$lab-m" link set eth0 up
    ip -n "$lab-m" route add default via 10.171.1.1
    in_h sysctl -qw net.ipv4.ip_forward=1
    dev=wgm0
    [[ $t == openvpn ]] && dev=tunm0
    # Everything that does not need the daemon, before the clock starts;
    # until the tunnel's route comes, M's packets meet `unreachable` (as
    # behind moat's kill switch) instead of leaving through the uplink.
    ip -n "$lab-h" rule add from 10.171.1.2 lookup 100
    ip -n "$lab-h" route add unreachable default table 100 metric 4278198272
    in_h nft -f - <<EOF
table ip manual {
  chain post { type nat hook postrouting priority srcnat; policy accept; oifname "$dev" masquerade; }
}
EOF
    : >"$work/probe.out"
    rm -f "$work/manual.stamp"
    t0=$(now_us)
    in_m "$probe_bin" up "${web[@]}" >"$work/probe.out" 2>&1 &
    probe_pid=$!
    if [[ $t == wireguard ]]; then
        setsid nsenter --net=/run/netns/"$lab-h" "$probe_bin" stamp "$work/manual.stamp" \
            unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec wireguard-go -f wgm0' </dev/null >>"$work/wgm.log" 2>&1 &
        mpid=$!; disown
        local end=$(( t0 + 5000000 ))
        until [[ -S /proc/$mpid/root/run/wireguard/wgm0.sock ]]; do
            (( $(now_us) < end )) || die "manual wireguard-go did not start"
            sleep 0.001
        done
        nsenter -t "$mpid" -m -n wg setconf wgm0 "$work/client-wg.conf"
        ip -n "$lab-h" addr add 10.9.0.2/32 dev wgm0
        ip -n "$lab-h" link set wgm0 up
        ip -n "$lab-h" route replace default dev wgm0 table 100
    else
        : >"$work/ovpnm.log"
        printf '#!/bin/sh\nexec ip route replace default dev "$1" table 100\n' >"$work/ovpnm-up.sh"
        chmod 755 "$work/ovpnm-up.sh"
        setsid nsenter --net=/run/netns/"$lab-h" "$probe_bin" stamp "$work/manual.stamp" \
            openvpn --config "$work/client.ovpn" --dev tunm0 --dev-type tun --route-nopull \
            --pull-filter ignore redirect-gateway --pull-filter ignore dhcp-option --pull-filter ignore route \
            --script-security 2 --up "$work/ovpnm-up.sh" --verb 3 --log "$work/ovpnm.log" </dev/null >/dev/null 2>&1 &
        mpid=$!; disown
    fi
    wait "$probe_pid" || die "manual $t: no traffic: $(cat "$work/probe.out") $(tail -5 "$work/ovpnm.log" 2>/dev/null)"
    t0=$(stamp_us "$work/manual.stamp")  # from the daemon's exec on
    manual_first_us=$(( $(field ok "$work/probe.out") - t0 ))
    manual_probe_us=$(( $(field start "$work/probe.out") - t0 ))
    manual_fails=$(awk '/^ok / { print $3 }' "$work/probe.out")
    local check
    check=$(in_m nc -w 2 198.51.100.10 80 2>/dev/null || true)
    [[ $check == 203.0.113.2 ]] || die "manual $t: the web server saw '${check}', expected 203.0.113.2"
}
manual_down() {
    [[ -n $mpid ]] && kill -9 "$mpid" 2>/dev/null && while kill -0 "$mpid" 2>/dev/null; do sleep 0.01; done
    mpid=""
    ip -n "$lab-h" rule del from 10.171.1.2 lookup 100 2>/dev/null || true
    ip -n "$lab-h" route flush table 100 2>/dev/null || true
    in_h nft delete table ip manual 2>/dev/null || true
    ip -n "$lab-h" link del mh0 2>/dev/null || true
    ip netns del "$lab-m" 2>/dev/null || true
    in_h sysctl -qw net.ipv4.ip_forward=0 || true
}
bench_manual() {  # TYPE REP
    local t=$1 rep=$2 dp="-1 -1 -1 -1"
    manual_up "$t"
    run=(nsenter --net=/run/netns/"$lab-m")
    [[ -n $startup_only || -n $restart_only ]] || dp=$(data_path)
    manual_down
    echo "   by hand $t: start -> first packet $((manual_first_us / 1000)) ms (probe started $((manual_probe_us / 1000)) ms," \
        "$manual_fails failed before); data $dp" >&2
    printf 'manual\t%s\t%s\t-1\t%s\t-1\t-1\t%s\tnothing\t-1\t%s\t%s\t-1\t-1\n' "$t" "$rep" "$manual_first_us" \
        "$(tr ' ' '\t' <<<"$dp")" "$manual_probe_us" "$manual_fails" >>"$results"
}

# --- the runs --------------------------------------------------------------------
results="$work/results.tsv"
: >"$results"
if [[ -n ${REPORT_FROM:-} ]]; then
    cp "$REPORT_FROM" "$results"
    reps=0
else
    make_keys
fi
for rep in $(seq "$reps"); do
    for t in $types; do
        echo "== rep $rep/$reps: $t" >&2
        lab_up
        # Alternate which one goes first.
        if [[ -n ${MOAT_BEFORE:-} ]]; then
            before() { local moat="$work/moat-before" who=before; bench_moat "$@"; }
            case $(( rep % 3 )) in
                1) bench_moat "$t" "$rep"; bench_manual "$t" "$rep"; before "$t" "$rep" ;;
                2) bench_manual "$t" "$rep"; before "$t" "$rep"; bench_moat "$t" "$rep" ;;
                0) before "$t" "$rep"; bench_moat "$t" "$rep"; bench_manual "$t" "$rep" ;;
            esac
        elif (( rep % 2 )); then bench_moat "$t" "$rep"; bench_manual "$t" "$rep"
        else bench_manual "$t" "$rep"; bench_moat "$t" "$rep"; fi
        lab_down
    done
done
[[ -n ${REPORT_FROM:-} ]] || cp "$results" "${out%.md}.tsv"

# --- the report --------------------------------------------------------------------
mkdir -p "$(dirname "$out")"
"$py" - "$results" "$types" "$secs" \
    "$(uname -r)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%d)" \
    "$(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null)" \
    "$(dpkg-query -W -f='${Version}' openvpn 2>/dev/null)" \
    "$(dpkg-query -W -f='${Version}' iperf3 2>/dev/null)" \
    "$({ [[ -x $moat ]] || moat=${MOAT:-$root/build/moat}; "$moat" version 2>/dev/null | head -1; } || true)" >"$out" <<'PY'
import collections, os, statistics, sys
(results, types, secs, kernel, cpus, cpu, load, date, wgver, ovpnver, iperfver, moatver) = sys.argv[1:]
types = types.split()
rows = collections.defaultdict(list)   # (who, type) -> [dict]
for line in open(results):
    f = line.rstrip("\n").split("\t")
    who, t, rep = f[0], f[1], int(f[2])
    up, first, restart, down, tcp, udp = (int(x) for x in f[3:9])
    rtt, loss = float(f[9]), float(f[10])
    route, probe, fails, route2, dev = (int(x) for x in f[12:17])
    started = int(f[17]) if len(f) > 17 else -1  # moat: the runner's "started <daemon>" (STARTUP_ONLY)
    rows[who, t].append(dict(rep=rep, up=up / 1e6, first=first / 1e6, restart=restart / 1e6,
                             down=down / 1e6, tcp=tcp, udp=udp, rtt=rtt, loss=loss, left=f[11],
                             route=route / 1e6, probe=probe / 1e6, fails=fails, route2=route2 / 1e6, dev=dev / 1e6,
                             started=started / 1e6))
reps = max([r["rep"] for v in rows.values() for r in v] or [0])
import os
if os.environ.get("RESTART_ONLY"):
    label = {"wireguard": "WireGuard (wireguard-go %s)" % wgver.split("-")[0],
             "openvpn": "OpenVPN %s" % ovpnver.split("-")[0]}
    def ms(s): return "n/a" if s is None else "%.0f ms" % (s * 1e3)
    def med(v): return statistics.median(v) if v else None
    def rng(v): return "%s–%s" % (ms(min(v)), ms(max(v))) if len(v) > 1 else ""
    print("## Tunnel restart after kill -9, against the daemon's own start\n")
    print("`RESTART_ONLY=1 bench/vpn.sh`, %s, %d repetitions per tunnel type, each in a fresh lab, moat"
          " and by hand alternating which goes first. Kernel %s, %s CPUs (%s), load average at the end %s.%s\n"
          % (date, reps, kernel, cpus, cpu, load, (" Version: %s." % moatver) if moatver else ""))
    print("moat's state directory %s.\n" % ("on /tmp's file system (`STATE_ON_DISK=1`)"
          if os.environ.get("STATE_ON_DISK") == "1" else "on tmpfs (`/dev/shm`)"))
    print("- **moat**: after `moat up` and a first packet through the tunnel, SIGKILL of the tunnel"
          " daemon moat started; from the kill to the first connection of the probe in the container"
          " through the restarted tunnel (*new daemon* is the new runner's \"started\" line in `moat logs"
          " _tunnels`, stamped by the init to the millisecond).")
    print("- **by hand**: the same daemon with the same file started by hand in the same lab (as for"
          " *up → first packet* above): from its start to the first connection of the same probe.\n")
    print("| tunnel | moat: kill -9 → first packet | (range) | kill → new daemon started | new daemon → first packet | by hand: start → first packet | (range) | moat − by hand, per repetition: median | (range) | target (≤ 50 ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in types:
        m = {r["rep"]: r for r in rows.get(("moat", t), []) if r["restart"] > 0}
        h = {r["rep"]: r["first"] for r in rows.get(("manual", t), []) if r["first"] > 0}
        d = [m[i]["restart"] - h[i] for i in sorted(m) if i in h]
        if not d:
            continue
        mv = [r["restart"] for r in m.values()]
        hv = list(h.values())
        st = [r["started"] for r in m.values() if r["started"] >= 0]
        sf = [r["restart"] - r["started"] for r in m.values() if r["started"] >= 0]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[t], ms(med(mv)), rng(mv), ms(med(st)), ms(med(sf)), ms(med(hv)), rng(hv), ms(med(d)), rng(d),
            "**met**" if med(d) <= 0.050 else "**missed**"))
    left = sorted(set(r["left"] for t in types for r in rows.get(("moat", t), [])))
    print("\nLeft in the host namespace after `moat down`: %s." % "; ".join(left))
    sys.exit(0)
label = {"wireguard": "WireGuard (wireguard-go %s)" % wgver.split("-")[0],
         "openvpn": "OpenVPN %s" % ovpnver.split("-")[0]}

def vals(who, t, k):
    return [r[k] for r in rows.get((who, t), []) if r[k] >= 0]
def med(v): return statistics.median(v) if v else None
def ms(s): return "n/a" if s is None else "%.0f ms" % (s * 1e3)
def rng(v, f): return "%s–%s" % (f(min(v)), f(max(v))) if len(v) > 1 else ""
def mbit(b): return "n/a" if b is None else "%.0f Mbit/s" % (b / 1e6)
def kpps(p): return "n/a" if p is None else "%.1f kpps" % (p / 1e3)
def rttf(r): return "n/a" if r is None else "%.3f ms" % r

def paired(t, k):
    """Per repetition moat / by hand, then the median and range of those ratios."""
    m = {r["rep"]: r[k] for r in rows.get(("moat", t), []) if r[k] > 0}
    h = {r["rep"]: r[k] for r in rows.get(("manual", t), []) if r[k] > 0}
    return [m[i] / h[i] for i in sorted(m) if i in h]

def noise(t, k):
    """Relative spread of each side alone: (max - min) / median over the repetitions."""
    out = []
    for who in ("moat", "manual"):
        v = [x for x in vals(who, t, k) if x > 0]
        if len(v) > 1:
            out.append((max(v) - min(v)) / statistics.median(v))
    return max(out) if out else None

print("## VPN egress: tunnel start, daemon restart, data path\n")
print("`bench/vpn.sh`, %s, %d repetitions, medians with the range over the repetitions (the machine is"
      " shared: the range is the noise). Kernel %s, %s CPUs (%s), iperf3 %s, load average at the end %s."
      % (date, reps, kernel, cpus, cpu, iperfver.split("-")[0], load))
if moatver:
    print("Version: %s." % moatver)
print("moat's state directory %s." % ("on /tmp's file system (`STATE_ON_DISK=1`): every record save"
      " waits for the disk (fsync)" if os.environ.get("STATE_ON_DISK") == "1"
      else "on tmpfs (`/dev/shm`), as moat's default `/run/moat` is on a usual system"))
print("\nA fresh lab of namespaces per repetition and tunnel type: a fake internet (web and iperf3"
      " server on 198.51.100.10), a VPN server at 203.0.113.2 that NATs its tunnels out (wireguard-go"
      " configured with `wg`; OpenVPN 2.6, `proto udp4`, `tls-crypt`, EC P-256 PKI, `disable-dco`),"
      " and the host moat manages (uplink 203.0.113.10). moat brings up `[tunnels.vpn0]` from a"
      " wg-quick file or an inline `.ovpn` and one container `egress = \"vpn:vpn0\"` with a `sleep`"
      " service. The probe inside the container (`moat exec`) opens a new non-blocking TCP connection"
      " to 198.51.100.10:80 every 10 ms and takes the time the first one completes.\n")
print("- **up → first packet**: from the start of `moat up` to the first connection through the"
      " tunnel. The probe starts as soon as `moat exec` finds the container running (*probe"
      " starts*); *up returns* is when `moat up` itself exited; *device* and *route* are when"
      " `ip -ts monitor route link` on the host saw the daemon create `tn-vpn0` and moat add"
      " `default dev tn-vpn0` to the tunnel's table.")
print("- **kill -9 → traffic**: SIGKILL of the tunnel daemon moat started (`wireguard-go` or"
      " `openvpn`), found by its command line in the host namespace, to the first connection"
      " through the restarted tunnel; *device gone* is when the monitor saw the tunnel's device"
      " deleted (its route goes with it), *route back* when it saw the route added again.")
print("- **data path**: from the container, `iperf3 -c` TCP for %s s, `iperf3 -u -b 0 -l 64` for"
      " %s s (datagrams that arrived, per second), and `ping -f -c 2000` (average round trip);"
      " against the same client started by hand in the host namespace with the same file, a"
      " namespace on a veth, one `ip rule`, one route and one masquerade rule (no filter at all)."
      " Each repetition runs both, alternating which goes first. Every daemon (the by-hand client,"
      " the lab's servers) runs in a session of its own, as moat's services do: the kernel's"
      " autogroup scheduling shares the CPU between sessions first.\n" % (secs, secs))

print("| tunnel | moat up returns | device | route | probe starts | up → first packet | (range) | kill -9 → device gone | route back | kill -9 → traffic | (range) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for t in types:
    up, first, rs, dn, rt, pr, rt2, dv = (vals("moat", t, k) for k in ("up", "first", "restart", "down", "route", "probe", "route2", "dev"))
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label[t], ms(med(up)), ms(med(dv)), ms(med(rt)), ms(med(pr)), ms(med(first)), rng(first, ms),
        ms(med(dn)), ms(med(rt2)), ms(med(rs)), rng(rs, ms)))
for t in types:
    fl = vals("moat", t, "fails")
    if not fl:
        continue
    early = sum(1 for x in fl if x > 0)
    if early == 0:
        print("\n%s: the probe's first attempt already got through in every repetition (it could only"
              " start once the container ran), so *up → first packet* is an upper bound set by the"
              " probe's start; *route* is the tunnel's own readiness." % label[t])
    else:
        print("\n%s: the probe was refused before the tunnel came up in %d of %d repetitions (median %d"
              " failed attempts), so there *up → first packet* is the tunnel's." % (
                  label[t], early, len(fl), statistics.median(fl)))
print("\n### up → first packet, moat and the same daemon by hand\n")
print("From issue 14: moat's *up → first packet* against the same daemon with the same file started"
      " by hand in the same lab, alternating which goes first: from the daemon's start (M, its rule,"
      " masquerade and an `unreachable` default already in place) to the first connection of the same"
      " probe from M (*by hand*), the daemon configured as a person would — `wireguard-go`, `wg setconf`,"
      " `ip addr`, `ip link set up`, `ip route`; `openvpn` with an `--up` script adding the route."
      " Target: moat within 10 ms of the daemon's own time.\n")
print("| tunnel | moat | (range) | by hand | (range) | moat − by hand, per repetition: median | (range) | ratio | target |")
print("|---|---|---|---|---|---|---|---|---|")
for t in types:
    m = {r["rep"]: r["first"] for r in rows.get(("moat", t), []) if r["first"] > 0}
    h = {r["rep"]: r["first"] for r in rows.get(("manual", t), []) if r["first"] > 0}
    d = [m[i] - h[i] for i in sorted(m) if i in h]
    if not d:
        continue
    mv, hv = list(m.values()), list(h.values())
    print("| %s | %s | %s | %s | %s | %s | %s | %.2fx | %s |" % (
        label[t], ms(med(mv)), rng(mv, ms), ms(med(hv)), rng(hv, ms), ms(med(d)), rng(d, ms),
        med(mv) / med(hv), "**met**" if med(d) <= 0.010 else "**missed** (%d repetitions)" % len(d)))
for t in types:
    st = {r["rep"]: r for r in rows.get(("moat", t), []) if r["started"] > 0 and r["first"] > 0}
    if not st:
        continue
    s0 = [r["started"] for r in st.values()]
    s1 = [r["first"] - r["started"] for r in st.values()]
    sr = [r["route"] - r["started"] for r in st.values() if r["route"] > 0]
    print("\n%s under moat, where the time goes (medians): the runner started the daemon %s after `moat up`"
          " began (its log line, stamped by the init to the millisecond); from there the route in the"
          " tunnel's table took %s and the first packet %s — against %s by hand." % (
              label[t], ms(med(s0)), ms(med(sr)), ms(med(s1)), ms(med(vals("manual", t, "first")))))
if any(rows.get(("before", t)) for t in types):
    print("\n#### The same, before and after (MOAT_BEFORE)\n")
    print("*before*: the binary MOAT_BEFORE names, measured in the same labs as *moat* (*after*) and"
          " *by hand*, the three rotating which goes first. Medians; *daemon started* is the runner's"
          " \"started\" line after `moat up` began.\n")
    print("| tunnel | before | (range) | after | (range) | by hand | before − by hand | after − by hand | (range) | daemon started: before | after | target (≤ 10 ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in types:
        h = {r["rep"]: r["first"] for r in rows.get(("manual", t), []) if r["first"] > 0}
        b = {r["rep"]: r["first"] for r in rows.get(("before", t), []) if r["first"] > 0}
        a = {r["rep"]: r["first"] for r in rows.get(("moat", t), []) if r["first"] > 0}
        db = [b[i] - h[i] for i in sorted(b) if i in h]
        da = [a[i] - h[i] for i in sorted(a) if i in h]
        if not db or not da:
            continue
        sb = [r["started"] for r in rows.get(("before", t), []) if r["started"] > 0]
        sa = [r["started"] for r in rows.get(("moat", t), []) if r["started"] > 0]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[t], ms(med(list(b.values()))), rng(list(b.values()), ms), ms(med(list(a.values()))),
            rng(list(a.values()), ms), ms(med(list(h.values()))), ms(med(db)), ms(med(da)), rng(da, ms),
            ms(med(sb)), ms(med(sa)), "**met**" if med(da) <= 0.010 else "**missed**"))
if not any(vals(w, t, "tcp") for w in ("moat", "manual") for t in types):
    # STARTUP_ONLY: no data path measured
    left = sorted(set(r["left"] for t in types for r in rows.get(("moat", t), [])))
    print("\nLeft in the host namespace after `moat down`: %s." % "; ".join(left))
    sys.exit(0)
print("\n| tunnel | path | TCP | (range) | UDP 64 B | (range) | ping -f RTT | (range) | ping loss |")
print("|---|---|---|---|---|---|---|---|---|")
for t in types:
    for who, name in (("moat", "moat"), ("manual", "by hand")):
        tcp, udp, rtt, loss = (vals(who, t, k) for k in ("tcp", "udp", "rtt", "loss"))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[t], name, mbit(med(tcp)), rng(tcp, mbit), kpps(med(udp)), rng(udp, kpps),
            rttf(med(rtt)), rng(rtt, rttf), "%.1f %%" % max(loss) if loss else "n/a"))

print("\n### Target\n")
print("From issue 5: moat's rules cost nothing measurable on the data path (within noise). Judged"
      " per metric on the per-repetition ratios moat / by hand (RTT inverted, so below 1 always"
      " means moat is slower), as a sign test: **within noise** unless moat was slower in every"
      " repetition and the median shortfall is over 3 %% (with %d repetitions, all on one side by"
      " chance has a probability of %.1f %%). The spread is each side's own (max − min) / median over"
      " the repetitions.\n" % (reps, 100 * 2 * 0.5 ** reps if reps else 0))
for t in types:
    parts = []
    for k, name, inv in (("tcp", "TCP", False), ("udp", "UDP packet rate", False), ("rtt", "ping RTT", True)):
        r = paired(t, k)
        if not r:
            parts.append("%s n/a" % name)
            continue
        r = [1 / x for x in r] if inv else r
        m, n = statistics.median(r), noise(t, k)
        ok = m >= 0.97 or max(r) >= 1
        parts.append("%s %.2fx (range %.2f–%.2f; spread %s): %s" % (
            name, m, min(r), max(r), "%.0f %%" % (n * 100) if n is not None else "n/a",
            "**within noise**" if ok else "**slower in every repetition**"))
    print("- %s: %s." % (label[t], "; ".join(parts)))
left = sorted(set(r["left"] for t in types for r in rows.get(("moat", t), [])))
if left:
    print("\nLeft in the host namespace after `moat down`: %s." % "; ".join(left))
PY
cat "$out"
