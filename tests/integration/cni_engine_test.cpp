// moat as the CNI plugin of a real engine: Debian's Buildah (1.28, libcni
// through containers/common's CNI backend) running busybox containers with
// runc on `"type": "moat"` networks (label root; LAB.md).
//
// Theory of operation. `buildah run --network <name>` makes no namespace
// file of its own: runc unshares the container's network namespace, and
// Buildah, from its own process, runs the network's plugins with
// CNI_NETNS=/proc/<buildah>/fd/<fd> (its handle on that namespace) before
// the command starts, and DEL when it has exited. So the plugins run in
// whatever network namespace Buildah runs in: here the lab's host, entered
// with nsenter. Nothing of it may touch the machine:
//   - storage (--root, --runroot, vfs driver), the CNI configuration dir,
//     the plugin dir and containers.conf (CONTAINERS_CONF) are under the
//     lab's directory;
//   - libcni's cache (/var/lib/cni, not configurable through Buildah 1.28)
//     and containers/image's blob cache (/var/lib/containers/cache) and
//     temporary files (/var/tmp) land in lab directories bind-mounted over
//     /var/lib and /var/tmp in a private mount namespace (unshare -m), which
//     dies with each buildah command, so no mount outlives it either;
//   - runc keeps its state under the lab's directory (--runtime-flag root=).
// The image is built without a registry: `buildah from scratch`, a copy of
// busybox-static with its applet links, `buildah config`, `buildah commit`.
// busybox's `wget -T` crashes (Debian 1.35 static), and a `timeout` that is
// the container's PID 1 cannot kill its child, so commands run as
// `sh -c '...; exit $?'`, which keeps the shell as PID 1.
#include "network_lab.hpp"
#include "residue.hpp"
#include "vpn_lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace moat::test {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto buildah_timeout = std::chrono::seconds(30);

bool installed(const std::string& tool) { return sh("command -v " + tool + " >/dev/null").code == 0; }

// Prints how long each step took, so a slow engine shows where.
class stopwatch {
public:
    void lap(const std::string& step) {
        auto now = clock_type::now();
        std::fprintf(stderr, "[cni_engine] %-28s %6.2f s\n", step.c_str(),
                     std::chrono::duration<double>(now - _last).count());
        _last = now;
    }
    double total() const { return std::chrono::duration<double>(clock_type::now() - _start).count(); }

private:
    clock_type::time_point _start = clock_type::now(), _last = _start;
};

class buildah_lab {
public:
    explicit buildah_lab(lab& l) : _l(l), _dir(l.dir() + "/buildah") {
        std::string dirs;
        for (const char* d : {"root", "runroot", "runc", "plugins", "net.d", "varlib", "vartmp", "rootfs/bin"}) {
            dirs += " " + _dir + "/" + d;
        }
        auto r = sh("mkdir -p" + dirs + " && ln -s " + moat_binary() + " " + _dir + "/plugins/moat");
        if (r.code != 0) throw std::runtime_error("buildah lab: " + r.err);
        _l.write("buildah/containers.conf", containers_conf());
        _l.write("buildah/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + _dir +
                                             "/root\"\nrunroot = \"" + _dir + "/runroot\"\n");
    }
    ~buildah_lab() {
        // Working containers hold nothing that runs once `buildah run` has
        // returned; removing them is the engine's own cleanup (the lab then
        // deletes the directory).
        buildah("rm --all");
    }
    buildah_lab(const buildah_lab&) = delete;
    buildah_lab& operator=(const buildah_lab&) = delete;

    // What docs/CNI-ENGINES.md shows: CNI as the network backend, moat's
    // plugin dir first, the lab's conflists.
    std::string containers_conf() const {
        return "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"" + _dir +
               "/plugins\", \"/usr/lib/cni\"]\nnetwork_config_dir = \"" + _dir + "/net.d\"\n";
    }

    // A conflist with moat as its one plugin; `extra` adds keys to it.
    void network(const std::string& name, const std::string& subnet, const std::string& egress,
                 const std::string& extra = "") {
        _l.write("buildah/net.d/" + name + ".conflist",
                 R"({"cniVersion":"1.0.0","name":")" + name + R"(","plugins":[{"type":"moat","subnet":")" + subnet +
                     R"(","egress":")" + egress + R"(","stateDir":")" + _l.state_dir() + "\"" + extra + "}]}\n");
    }

    // One buildah command in the lab's host namespace and a private mount
    // namespace (see the top of this file).
    result buildah(const std::string& args, std::chrono::seconds timeout = buildah_timeout) {
        std::string inner = "mount --bind " + _dir + "/varlib /var/lib && mount --bind " + _dir +
                            "/vartmp /var/tmp && exec env CONTAINERS_CONF=" + _dir +
                            "/containers.conf CONTAINERS_STORAGE_CONF=" + _dir + "/storage.conf TMPDIR=" + _dir +
                            "/vartmp buildah --root " + _dir + "/root --runroot " + _dir +
                            "/runroot --storage-driver vfs " + args;
        return _l.in("unshare --mount --propagation private sh -c " + shq(inner), "", timeout);
    }

    // `buildah run` of a shell command on network `net` in container ctr.
    result run(const std::string& ctr, const std::string& net, const std::string& script) {
        return buildah("run --runtime runc --runtime-flag root=" + _dir + "/runc --network " + net + " " + ctr +
                       " -- sh -c " + shq(script + "; exit $?"));
    }

    // The image: busybox-static and its applet links, nothing else.
    void build_image() {
        std::string bin = _dir + "/rootfs/bin";
        must(sh("cp /bin/busybox " + bin + "/ && for a in sh wget cat ip sleep timeout readlink; do ln -s busybox " +
                bin + "/$a; done"));
        auto ctr = must(buildah("from scratch")).out;
        ctr = ctr.substr(0, ctr.find('\n'));
        must(buildah("copy " + ctr + " " + _dir + "/rootfs/ /"));
        must(buildah("config --env PATH=/bin --cmd /bin/sh " + ctr));
        must(buildah("commit -q " + ctr + " moat-busybox"));
        must(buildah("rm " + ctr));
    }

    // A working container of the image; returns its name.
    std::string container(const std::string& name) {
        must(buildah("from --name " + name + " moat-busybox"));
        return name;
    }

    // libcni's result cache (ADD writes an entry, DEL removes it); "-" when
    // libcni never wrote here (then it wrote to the machine's /var/lib).
    std::string cni_cache() const {
        return sh("ls -A " + _dir + "/varlib/cni/results 2>/dev/null || echo -").out;
    }

private:
    result must(result r) {
        if (r.code != 0) throw std::runtime_error("buildah lab step failed (" + std::to_string(r.code) + "): " + r.err);
        return r;
    }

    lab& _l;
    std::string _dir;
};

// A container's network namespace and cgroups, as it saw them from inside.
struct traces {
    std::string netns;                 // "net:[inode]"
    std::vector<std::string> cgroups;  // the last component of each cgroup path
};

// Parses the marker lines the scripts below print after their output.
traces traces_in(const std::string& out) {
    traces t;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("NETNS=", 0) == 0) t.netns = line.substr(6);
        if (line.rfind("CGROUP=", 0) == 0) t.cgroups.push_back(line.substr(line.rfind('/') + 1));
    }
    return t;
}

const std::string report_traces = "echo NETNS=$(readlink /proc/self/ns/net); sed 's/^/CGROUP=/' /proc/self/cgroup";

// What of a finished container is still on the machine ("" = nothing): a
// process in its network namespace, a mount of it, its cgroups.
std::string engine_residue(const traces& t) {
    std::ostringstream out;
    if (!t.netns.empty()) {
        auto users = sh("find /proc/[0-9]*/ns/net -lname " + shq(t.netns) + " 2>/dev/null || true").out;
        if (!users.empty()) out << "processes in " << t.netns << ": " << users;
        if (sh("grep -qF " + shq(t.netns) + " /proc/self/mountinfo").code == 0) out << "mount of " << t.netns << "\n";
    }
    for (const auto& cg : t.cgroups) {
        if (cg.empty()) continue;
        auto left = sh("find /sys/fs/cgroup -maxdepth 5 -type d -name " + shq(cg) + " 2>/dev/null || true").out;
        if (!left.empty()) out << "cgroups: " << left;
    }
    return out.str();
}

std::string body_of(const std::string& out) { return out.substr(0, out.find("NETNS=")); }

class CniEngine : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* tool : {"buildah", "runc", "busybox", "unshare"}) {
            if (!installed(tool)) GTEST_SKIP() << tool << " is not installed (scripts/deps.sh --test installs it)";
        }
        // The image has no libc: /bin/busybox must be the static one.
        if (sh("/bin/busybox --list | grep -qx wget && ! ldd /bin/busybox >/dev/null 2>&1").code != 0) {
            GTEST_SKIP() << "/bin/busybox is not busybox-static (scripts/deps.sh --test installs it)";
        }
    }
};

TEST_F(CniEngine, BuildahNatLeavesAsTheUplinkNoneReachesNothingAndRmLeavesNothing) {
    stopwatch time;
    lab l;
    wan w(l);
    auto before = snapshot(l);
    buildah_lab b(l);
    b.network("moatnet", "10.89.0.0/24", "nat");
    b.network("moatnone", "10.89.1.0/24", "none");
    time.lap("lab");
    b.build_image();
    auto ctr = b.container("ctr-" + l.id());
    time.lap("image and container");

    // nat: the wan's web server answers with the source it sees, the uplink.
    auto nat = b.run(ctr, "moatnet", "wget -qO- http://" + web4 + "/; " + report_traces);
    time.lap("run on moatnet (nat)");
    ASSERT_EQ(nat.code, 0) << nat.out << nat.err;
    EXPECT_EQ(body_of(nat.out), uplink4 + "\n") << nat.out;
    auto nat_traces = traces_in(nat.out);
    EXPECT_NE(nat_traces.netns, "") << nat.out;
    EXPECT_FALSE(nat_traces.cgroups.empty()) << nat.out;

    // none: nothing leaves through the uplink while the container tries.
    {
        capture cap(l, w.uplink());
        auto none = b.run(ctr, "moatnone", "timeout 3 wget -qO- http://" + web4 + "/; " + report_traces);
        time.lap("run on moatnone (none)");
        cap.stop();
        EXPECT_EQ(body_of(none.out), "") << none.out << none.err;
        EXPECT_NE(none.out.find("NETNS=net:"), std::string::npos) << "the container did run: " << none.out << none.err;
        EXPECT_EQ(cap.count("host " + web4), 0) << cap.packets("");
        EXPECT_EQ(engine_residue(traces_in(none.out)), "");
    }
    // Positive control, same lab, same moment: the nat network still gets out.
    auto again = b.run(ctr, "moatnet", "wget -qO- http://" + web4 + "/");
    time.lap("run on moatnet again");
    EXPECT_EQ(again.out, uplink4 + "\n") << again.err;

    // Each run's DEL came when its command exited; `buildah rm` leaves
    // nothing of moat's, the engine's or libcni's.
    EXPECT_EQ(b.buildah("rm " + ctr).code, 0);
    time.lap("rm");
    EXPECT_EQ(residue(l, before, w.uplink()), "");
    EXPECT_EQ(l.in("ip -o link show | grep -E ': (ve-p|mb-cni)' || true").out, "");
    EXPECT_EQ(l.in("nft list table inet moat 2>/dev/null || true").out, "");
    EXPECT_EQ(engine_residue(nat_traces), "");
    EXPECT_EQ(b.cni_cache(), "");
    EXPECT_EQ(b.buildah("containers -q").out, "");
    std::fprintf(stderr, "[cni_engine] total %.2f s\n", time.total());
}

// While `buildah run` runs, moat knows the pod as a CNI attachment of the
// engine's container; when the command exits the engine's DEL removes it.
TEST_F(CniEngine, BuildahPodIsMoatsWhileItRuns) {
    stopwatch time;
    lab l;
    wan w(l);
    buildah_lab b(l);
    b.network("moatnet", "10.89.0.0/24", "nat");
    b.build_image();
    auto ctr = b.container("ctr-" + l.id());
    time.lap("lab, image, container");
    // The container waits (at most 20 s) for the test to remove /tmp/hold
    // from its root: the test looks at moat meanwhile.
    auto go = b.buildah("mount " + ctr);
    ASSERT_EQ(go.code, 0) << go.err;
    std::string rootfs = go.out.substr(0, go.out.find('\n'));
    ASSERT_EQ(sh("mkdir -p " + rootfs + "/tmp && touch " + rootfs + "/tmp/hold").code, 0);
    result held;
    std::thread runner([&] {
        held = b.run(ctr, "moatnet", "i=0; while [ -e /tmp/hold ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; "
                                     "wget -qO- http://" + web4 + "/");
    });
    // The record is written before ADD makes anything and says "running"
    // only when ADD has completed: wait for that.
    nlohmann::json pod;
    bool seen = eventually([&] {
        auto st = status(l);
        for (const auto& c : st.value("containers", nlohmann::json::array())) {
            if (c.value("origin", "") == "cni") pod = c;
        }
        return pod.is_object() && pod["state"] == "running";
    });
    EXPECT_TRUE(seen) << pod.dump() << l.moat("status").out;
    if (seen) {
        EXPECT_EQ(pod["cni"]["ifname"], "eth0") << pod.dump();
        // Buildah's handle on the namespace runc made (see the top of this file).
        EXPECT_EQ(pod["cni"]["netns"].get<std::string>().rfind("/proc/", 0), 0u) << pod.dump();
        auto check = l.moat("check " + pod["name"].get<std::string>());
        EXPECT_EQ(check.code, 0) << check.out << check.err;
    }
    sh("rm -f " + rootfs + "/tmp/hold");
    runner.join();
    time.lap("held run");
    EXPECT_EQ(held.code, 0) << held.out << held.err;
    EXPECT_EQ(held.out, uplink4 + "\n");
    EXPECT_EQ(status(l).value("containers", nlohmann::json::array()).size(), 0u) << l.moat("status").out;
    b.buildah("umount " + ctr);
}

// egress "vpn:<tunnel>": a Buildah container leaves through moat's tunnel
// (WireGuard to the lab's VPN server), so the wan's web server sees the VPN
// server's address and not one packet of it crosses the uplink in the clear;
// a nat network in the same lab is the positive control.
TEST_F(CniEngine, BuildahVpnPodLeavesThroughTheTunnel) {
    stopwatch time;
    lab l;
    wan w(l);
    vpn_lab v(l, w);
    auto before = snapshot(l);
    auto toml = l.write("moat.toml", "[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" +
                                         v.wireguard_client_config() + "\"\n");
    buildah_lab b(l);
    b.network("moatvpn", "10.89.2.0/24", "vpn:vpn0", R"(,"moatConfig":")" + toml + "\"");
    b.network("moatnet", "10.89.0.0/24", "nat");
    b.build_image();
    auto ctr = b.container("ctr-" + l.id());
    time.lap("lab, vpn servers, image");
    {
        capture cap(l, w.uplink());
        auto vpn = b.run(ctr, "moatvpn", "timeout 10 wget -qO- http://" + web4 + "/");
        time.lap("run on moatvpn");
        cap.stop();
        EXPECT_EQ(vpn.code, 0) << vpn.out << vpn.err;
        EXPECT_EQ(vpn.out, vpn4 + "\n") << vpn.err;
        // The tunnel's own packets go to the VPN server's UDP port; none to the web server.
        EXPECT_EQ(cap.count("host " + web4), 0) << cap.packets("");
        EXPECT_GT(cap.count("udp and host " + vpn4), 0) << "the tunnel carried it: " << cap.packets("");
    }
    {
        // The tunnel's server is dead: the container's request fails and
        // not one packet of it reaches the uplink.
        v.kill_wireguard(SIGKILL);
        capture cap(l, w.uplink());
        auto dead = b.run(ctr, "moatvpn", "timeout 5 wget -qO- http://" + web4 + "/");
        cap.stop();
        EXPECT_NE(dead.out, vpn4 + "\n");
        EXPECT_NE(dead.out, uplink4 + "\n");
        EXPECT_EQ(cap.count("host " + web4 + " or net 10.89.2.0/24"), 0) << cap.packets("");
        time.lap("run on moatvpn with the server dead");
    }
    auto nat = b.run(ctr, "moatnet", "wget -qO- http://" + web4 + "/");
    EXPECT_EQ(nat.out, uplink4 + "\n") << nat.err;
    EXPECT_EQ(b.buildah("rm " + ctr).code, 0);
    // Every pod is gone by the engine's DEL, and the tunnel with the last
    // pod that used it: nothing is left without a `moat down`.
    EXPECT_EQ(status(l).value("containers", nlohmann::json::array()).size(), 0u) << l.moat("status").out;
    EXPECT_EQ(l.in("ip link show tn-vpn0 2>/dev/null || true").out, "");
    EXPECT_EQ(residue(l, before, w.uplink()), "");
    EXPECT_EQ(b.cni_cache(), "");
    time.lap("rm and residue");
}

}  // namespace
}  // namespace moat::test
