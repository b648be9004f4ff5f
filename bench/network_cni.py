#!/usr/bin/python3
"""bench/network_cni.py — the CNI contender of bench/network.sh.

Plays the container runtime's part of CNI for N containers, the way libcni
would run a conflist, but without libcni: per container `ip netns add`, then
the chain bridge (host-local IPAM, ipMasq, isGateway) -> portmap, each plugin
exec'd with CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH and its
config on stdin, the chained plugin getting the previous result as
prevResult. `del` runs the chain in reverse (portmap, bridge, each with the
last result as prevResult, as libcni does from its cache), deletes the
netns, and finally the bridge, which no CNI plugin ever removes.

Must run inside the lab namespace (`ip netns exec LAB`): the plugins and the
iptables they call act on the namespace they run in.

  network_cni.py add|del WORKDIR N NSPREFIX
prints the wall time of the whole operation in seconds (interpreter start
excluded) on stdout. Results of `add` are kept in WORKDIR/cni-results.json
for `del`; host-local's allocations live in WORKDIR/ipam.
"""
import json
import os
import subprocess
import sys
import time

from cni_exec import plugin

CNI_PATH = os.environ.get("CNI_PATH", "/usr/lib/cni")
VERSION = "1.0.0"
BRIDGE = "cni-bench"
SUBNET = "10.88.0.0/16"
HOST_PORT_BASE = 20000


def bridge_conf(work):
    return {
        "cniVersion": VERSION,
        "name": "bench",
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": True,
        "ipMasq": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": SUBNET}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": os.path.join(work, "ipam"),
        },
    }


def portmap_conf(i):
    return {
        "cniVersion": VERSION,
        "name": "bench",
        "type": "portmap",
        "capabilities": {"portMappings": True},
        "runtimeConfig": {"portMappings": [
            {"hostPort": HOST_PORT_BASE + i, "containerPort": 80, "protocol": "tcp"}]},
    }


def run(*argv):
    subprocess.run(argv, check=True)


def main():
    op, work, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    results_file = os.path.join(work, "cni-results.json")
    bconf = bridge_conf(work)
    t0 = time.perf_counter()
    if op == "add":
        results = {}
        for i in range(1, n + 1):
            name = "%s%d" % (prefix, i)
            run("ip", "netns", "add", name)
            netns = "/run/netns/" + name
            r = plugin(CNI_PATH, "ADD", bconf, i, netns)
            results[i] = plugin(CNI_PATH, "ADD", portmap_conf(i), i, netns, prev=r)
    elif op == "del":
        with open(results_file) as f:
            results = {int(k): v for k, v in json.load(f).items()}
        for i in range(n, 0, -1):
            name = "%s%d" % (prefix, i)
            netns = "/run/netns/" + name
            plugin(CNI_PATH, "DEL", portmap_conf(i), i, netns, prev=results[i])
            plugin(CNI_PATH, "DEL", bconf, i, netns, prev=results[i])
            run("ip", "netns", "del", name)
        run("ip", "link", "del", BRIDGE)
    else:
        sys.exit("usage: network_cni.py add|del WORKDIR N NSPREFIX")
    elapsed = time.perf_counter() - t0
    if op == "add":
        with open(results_file, "w") as f:
            json.dump(results, f)
    print("%.6f" % elapsed)


if __name__ == "__main__":
    main()
