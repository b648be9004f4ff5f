#!/usr/bin/python3
"""bench/cni_pods.py — the driver of bench/cni.sh: plays libcni for N pods.

For each pod in turn it runs a contender's plugin chain the way libcni runs
a conflist: every plugin exec'd with a clean environment (CNI_COMMAND,
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH) and its configuration on
stdin; a chained plugin gets the previous plugin's result as prevResult; DEL
runs the chain in reverse, each plugin getting the ADD's final result as
prevResult (what libcni keeps in its cache). The contenders:

  moat     one plugin: {"type": "moat", "subnet", "egress": "nat",
           runtimeConfig.portMappings with the pod's one mapping}; the
           binary is WORKDIR/cni-moat/moat ("moat-before": the same
           configuration, WORKDIR/cni-moat-before/moat, an older build)
  bridge   bridge (host-local IPAM, ipMasq, isGateway) -> portmap (the same
           mapping in runtimeConfig.portMappings)

The pod's network namespace (/run/netns/NSPREFIX<i>) exists before: making
it is the runtime's job, not the plugin's, and it is not timed. Must run in
the lab's host namespace (`nsenter --net=...`): the plugins act on the
namespace they run in.

  cni_pods.py add|del WORKDIR CONTENDER N NSPREFIX STATEDIR

prints one line per pod, "I SECONDS PLUGIN=SECONDS ...": the wall time of
that pod's whole chain (every exec, from the first fork to the last exit;
the driver's own JSON work between the plugins is in it, and is the same
for both) and of each plugin. ADD's results are kept in
WORKDIR/results-CONTENDER.json for DEL. The plugins' own state (moat's
stateDir, host-local's dataDir) lives under STATEDIR (argument 6).
"""
import json
import os
import sys
import time

from cni_exec import plugin

VERSION = "1.0.0"
SUBNET = "10.88.0.0/16"
HOST_PORT_BASE = 20000


def mapping(i):
    return [{"hostPort": HOST_PORT_BASE + i, "containerPort": 80, "protocol": "tcp"}]


def chain(contender, state, i):
    """The plugin configurations of pod i's chain, in ADD order."""
    if contender.startswith("moat"):
        return [{
            "cniVersion": VERSION, "name": "bench", "type": "moat",
            "subnet": SUBNET, "egress": "nat", "stateDir": os.path.join(state, "moat-state"),
            "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": mapping(i)},
        }]
    if contender == "bridge":
        return [{
            "cniVersion": VERSION, "name": "bench", "type": "bridge",
            "bridge": "cni-bench", "isGateway": True, "ipMasq": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": SUBNET}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": os.path.join(state, "ipam"),
            },
        }, {
            "cniVersion": VERSION, "name": "bench", "type": "portmap",
            "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": mapping(i)},
        }]
    sys.exit("unknown contender " + contender)


def main():
    op, work, contender, n, prefix, state = sys.argv[1:7]
    n = int(n)
    cni_path = os.path.join(work, "cni-" + contender) if contender.startswith("moat") else "/usr/lib/cni"
    results_file = os.path.join(work, "results-%s.json" % contender)
    lines = []
    if op == "add":
        results = {}
        for i in range(1, n + 1):
            netns = "/run/netns/%s%d" % (prefix, i)
            prev, parts = None, []
            t0 = time.perf_counter()
            for conf in chain(contender, state, i):
                t = time.perf_counter()
                prev = plugin(cni_path, "ADD", conf, i, netns, prev)
                parts.append("%s=%.6f" % (conf["type"], time.perf_counter() - t))
            lines.append("%d %.6f %s" % (i, time.perf_counter() - t0, " ".join(parts)))
            results[i] = prev
        with open(results_file, "w") as f:
            json.dump(results, f)
    elif op == "del":
        with open(results_file) as f:
            results = {int(k): v for k, v in json.load(f).items()}
        # A runtime deletes pods in whatever order they stop; reverse order of
        # creation here, as bench/network_cni.py does.
        for i in range(n, 0, -1):
            netns = "/run/netns/%s%d" % (prefix, i)
            parts = []
            t0 = time.perf_counter()
            for conf in reversed(chain(contender, state, i)):
                t = time.perf_counter()
                plugin(cni_path, "DEL", conf, i, netns, results[i])
                parts.append("%s=%.6f" % (conf["type"], time.perf_counter() - t))
            lines.append("%d %.6f %s" % (i, time.perf_counter() - t0, " ".join(parts)))
    else:
        sys.exit("usage: cni_pods.py add|del WORKDIR CONTENDER N NSPREFIX STATEDIR")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
