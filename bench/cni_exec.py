"""bench/cni_exec.py — one CNI plugin exec'd the way libcni does it.

Shared by bench/cni_pods.py and bench/network_cni.py: a clean environment
with only the CNI_* variables and PATH, the configuration on stdin (with the
previous plugin's result as prevResult when chained), the result read from
stdout. A failed plugin ends the benchmark with its error object and stderr.
"""
import json
import os
import subprocess
import sys


def plugin(cni_path, command, conf, i, netns, prev=None):
    if prev is not None:
        conf = dict(conf, prevResult=prev)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "bench-%d" % i,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": cni_path,
    }
    p = subprocess.run([os.path.join(cni_path, conf["type"])], input=json.dumps(conf).encode(),
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("%s %s for pod %d failed (%d): %s %s" % (
            conf["type"], command, i, p.returncode, p.stdout.decode().strip(), p.stderr.decode().strip()))
    out = p.stdout.decode().strip()
    return json.loads(out) if out else None
