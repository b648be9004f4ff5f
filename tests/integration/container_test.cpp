// The hello example and what a container looks like from inside, driven
// through the real moat binary in lab namespaces.
#include "lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using moat::test::lab;
using moat::test::source_dir;

namespace {

const char* two_services = R"(
[containers.webapp]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
hostAddress6 = "fc00:171::1"
localAddress6 = "fc00:171::2"
firewall.allowedTCPPorts = [12345, 12346]

[containers.webapp.services.greeting6]
script = 'while true; do echo "Hello, IPv6!" | nc -6 -l -p 12346; done'
restart = "always"

[containers.webapp.services.secret6]
script = 'while true; do echo "secret" | nc -6 -l -p 2223; done'
restart = "always"

[containers.webapp.services.greeting]
script = 'while true; do echo "Hello, world!" | nc -l -p 12345; done'
restart = "always"

[containers.webapp.services.secret]
script = 'while true; do echo "secret" | nc -l -p 2222; done'
restart = "always"
)";

void up_ok(lab& l, const std::string& file) {
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace

TEST(Hello, ExampleAnswersFromTheHost) {
    lab l;
    up_ok(l, source_dir() + "/examples/hello.toml");
    std::string line;
    for (int i = 0; i < 30 && line.empty(); ++i) {  // the service may still be starting
        line = l.read_line("10.171.1.2", 12345);
        if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(line, "Hello, world!\n");
}

// The client commands the README gives for the hello example, exactly as
// written there: "then `nc ...` (or `curl ...`)".
std::vector<std::string> readme_client_commands() {
    std::ifstream in(source_dir() + "/README.md");
    std::stringstream text;
    text << in.rdbuf();
    std::smatch m;
    std::string s = text.str();
    static const std::regex re(R"(On your host: `moat up -f examples/hello\.toml`, then `([^`]+)`\s*\(or `([^`]+)`\))");
    if (!std::regex_search(s, m, re)) {
        return {};
    }
    return {m[1], m[2]};
}

// Each README command prints the greeting and returns by itself. Its stdin
// is a pipe that stays open, as a terminal would: a client that waits for
// its own input to end (or a server that waits for the client to hang up)
// hangs until the timeout (exit 124).
TEST(Hello, ReadmeClientCommandsPrintTheGreetingAndReturn) {
    auto commands = readme_client_commands();
    ASSERT_EQ(commands.size(), 2U) << "README.md no longer says \"then `nc ...` (or `curl ...`)\"";
    lab l;
    up_ok(l, source_dir() + "/examples/hello.toml");
    for (const auto& cmd : commands) {
        std::string fifo = l.dir() + "/stdin";
        moat::test::result r;
        for (int i = 0; i < 30; ++i) {  // the service may still be starting: refused, try again
            r = l.in("rm -f " + fifo + "; mkfifo " + fifo + "; sleep 30 >" + fifo + " & s=$!; timeout 5 " + cmd +
                     " <" + fifo + "; rc=$?; kill $s; exit $rc");
            if (r.code == 0 || r.code == 124) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_EQ(r.code, 0) << cmd << (r.code == 124 ? ": hung after the greeting" : "") << "\n" << r.out << r.err;
        EXPECT_EQ(r.out, "Hello, world!\n") << cmd;
    }
}

TEST(Container, SeesOnlyLoopbackAndEth0) {
    lab l;
    up_ok(l, l.write("c.toml", two_services));
    auto r = l.moat("exec webapp -- ip -o link show");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(": lo:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(": eth0@"), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
    auto addr = l.moat("exec webapp -- ip -o addr show dev eth0");
    EXPECT_NE(addr.out.find("10.171.1.2"), std::string::npos) << addr.out;
    EXPECT_NE(addr.out.find("fc00:171::2"), std::string::npos) << addr.out;
    auto route = l.moat("exec webapp -- ip route show default");
    EXPECT_NE(route.out.find("default via 10.171.1.1 dev eth0"), std::string::npos) << route.out;
}

TEST(Container, HostRootIsReadOnlyAndScratchIsPrivate) {
    lab l;
    up_ok(l, l.write("c.toml", two_services));
    auto ro = l.moat("exec webapp -- touch /usr/moat-should-not-exist");
    EXPECT_NE(ro.code, 0);
    EXPECT_NE(ro.err.find("Read-only file system"), std::string::npos) << ro.err;
    EXPECT_FALSE(moat::test::sh("test -e /usr/moat-should-not-exist").code == 0);
    auto tmp = l.moat("exec webapp -- sh -c 'echo x > /tmp/f && cat /tmp/f && ls /tmp | wc -l'");
    EXPECT_EQ(tmp.code, 0) << tmp.err;
    EXPECT_EQ(tmp.out, "x\n1\n");
    auto hostname = l.moat("exec webapp -- cat /proc/sys/kernel/hostname");
    EXPECT_EQ(hostname.out, "webapp\n");
    // A fresh /proc: the container's PID 1 is moat's init.
    auto pid1 = l.moat("exec webapp -- cat /proc/1/comm");
    EXPECT_EQ(pid1.out, "moat-init\n");
    auto dev = l.moat("exec webapp -- ls /dev");
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"}) {
        EXPECT_NE(dev.out.find(node), std::string::npos) << node << " missing from /dev: " << dev.out;
    }
    EXPECT_EQ(dev.out.find("sda"), std::string::npos) << dev.out;
}

TEST(Container, FirewallAdmitsOnlyAllowedPorts) {
    lab l;
    up_ok(l, l.write("c.toml", two_services));
    std::string hello;
    for (int i = 0; i < 30 && hello.empty(); ++i) {
        hello = l.read_line("10.171.1.2", 12345);
        if (hello.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(hello, "Hello, world!\n");
    // The second service listens, but 2222 is not allowed: nothing gets through.
    auto inside = l.moat("exec webapp -- sh -c 'ss -ltn | grep -c -E \":222[23] \"'");
    EXPECT_EQ(inside.out, "2\n") << inside.err;
    EXPECT_EQ(l.read_line("10.171.1.2", 2222, "", 2), "");
    EXPECT_EQ(l.read_line("fc00:171::2", 2223, "", 2), "");
    EXPECT_EQ(l.read_line("fc00:171::2", 12346), "Hello, IPv6!\n");
    // Positive control: without moat's table the same port answers, so it
    // was the firewall that kept it shut. `up` then repairs the drift.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    EXPECT_EQ(l.read_line("10.171.1.2", 2222), "secret\n");
    auto repair = l.moat("up -f " + l.dir() + "/c.toml");
    EXPECT_EQ(repair.code, 0) << repair.err;
    EXPECT_EQ(l.read_line("10.171.1.2", 2222, "", 2), "");
}

TEST(Container, CapabilitiesAreReducedForServicesAndExec) {
    lab l;
    const char* cfg = R"(
[containers.caps]
privateNetwork = true
[containers.caps.services.dump]
script = 'grep -E "^(CapBnd|CapEff|NoNewPrivs|Seccomp):" /proc/self/status; sleep 1000'
)";
    up_ok(l, l.write("c.toml", cfg));
    // Docker's default set without mknod: chown dac_override fowner fsetid
    // kill setgid setuid setpcap net_bind_service net_raw sys_chroot
    // audit_write setfcap.
    const std::string expected = "00000000a00425fb";
    auto exec = l.moat("exec caps -- grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status");
    EXPECT_NE(exec.out.find("CapBnd:\t" + expected), std::string::npos) << exec.out;
    EXPECT_NE(exec.out.find("CapEff:\t" + expected), std::string::npos) << exec.out;
    EXPECT_NE(exec.out.find("NoNewPrivs:\t1"), std::string::npos) << exec.out;
    EXPECT_NE(exec.out.find("Seccomp:\t2"), std::string::npos) << exec.out;
    std::string log;
    for (int i = 0; i < 30 && log.find("Seccomp") == std::string::npos; ++i) {
        log = l.moat("logs caps").out;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(log.find("CapBnd:\t" + expected), std::string::npos) << log;
    // Blocked even for root inside: mounting, and new namespaces.
    auto mount = l.moat("exec caps -- mount -t tmpfs none /mnt");
    EXPECT_NE(mount.code, 0);
    auto unshare = l.moat("exec caps -- unshare --net true");
    EXPECT_NE(unshare.code, 0);
}

TEST(Container, ServiceThatExitsIsRestarted) {
    lab l;
    const char* cfg = R"(
[containers.flaky]
privateNetwork = true
[containers.flaky.services.crash]
script = 'echo attempt; exit 1'
restart = "always"
[containers.flaky.services.once]
script = 'echo once; exit 1'
)";
    up_ok(l, l.write("c.toml", cfg));
    int attempts = 0;
    for (int i = 0; i < 50 && attempts < 3; ++i) {
        attempts = 0;
        auto log = l.moat("logs flaky crash").out;
        for (std::size_t at = 0; (at = log.find("Z attempt\n", at)) != std::string::npos; ++at) {
            ++attempts;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_GE(attempts, 3);
    auto status = l.moat("status --json");
    auto j = nlohmann::json::parse(status.out);
    auto svc = j["containers"][0]["services"];
    EXPECT_GE(svc["crash"]["restarts"].get<int>(), 2) << status.out;
    EXPECT_EQ(svc["once"]["restarts"].get<int>(), 0) << status.out;
    // Each line with the time the init read it; the last one says how the
    // service ended.
    auto once = l.moat("logs flaky once").out;
    EXPECT_TRUE(std::regex_match(once, std::regex("20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z once\n"
                                                  "-- once exited with status 1 at [0-9T:.-]+Z, not restarted "
                                                  "\\(restart = \"no\"\\)\n")))
        << once;
}

TEST(Run, ExitCodeIsTheCommands) {
    lab l;
    auto r = l.moat("run --rm -- sh -c 'exit 3'");
    EXPECT_EQ(r.code, 3) << r.err;
    auto out = l.moat("run --rm --network none -- sh -c 'ip -o link | wc -l; hostname'");
    EXPECT_EQ(out.code, 0) << out.err;
    EXPECT_EQ(out.out.substr(0, 2), "1\n") << out.out;
    auto priv = l.moat("run --rm --network private -- ip -o -4 addr show dev eth0");
    EXPECT_EQ(priv.code, 0) << priv.err;
    EXPECT_NE(priv.out.find("169.254.172.2/30"), std::string::npos) << priv.out;
    auto killed = l.moat("run --rm -- sh -c 'kill -9 $$'");
    EXPECT_EQ(killed.code, 137);
    // The init is a fork of the CLI sharing its terminal: exactly the
    // command's output, nothing of moat's written twice.
    auto both = l.moat("run --rm --network none -- sh -c 'echo out; echo err >&2'");
    EXPECT_EQ(both.out, "out\n");
    EXPECT_EQ(both.err, "err\n");
    // --rm leaves nothing behind.
    auto st = l.moat("status --json");
    EXPECT_EQ(nlohmann::json::parse(st.out)["containers"].size(), 0u) << st.out;
    EXPECT_EQ(l.in("ip -o link | grep -c ve-").out, "0\n");
}

// What a `run` loads (issue 17), by the dynamic loader's own account
// (LD_DEBUG=files, on moat's stderr): --network none raises the container's
// loopback with a request of its own (netlink/loopback.hpp), so the CLI
// never loads libnl (netlink/libnl.cpp, about 1.2 ms of its start); a veth
// still needs it, and its firewall commit loads no NSS module.
TEST(Run, WhatTheCliLoads) {
    lab l;
    auto run = [&](const std::string& network, const std::string& cmd) {
        return l.in("LD_DEBUG=files " + moat::test::moat_binary() + " --state-dir " + l.state_dir() +
                    " run --rm --network " + network + " -- " + cmd);
    };
    auto none = run("none", "cat /sys/class/net/lo/flags /sys/class/net/lo/carrier");
    ASSERT_EQ(none.code, 0) << none.err;
    EXPECT_EQ(none.out, "0x9\n1\n") << "lo is not up (IFF_UP|IFF_LOOPBACK, carrier)";
    EXPECT_NE(none.err.find("file=libc.so.6"), std::string::npos) << "no loader output:\n" << none.err;
    EXPECT_EQ(none.err.find("libnl"), std::string::npos) << "--network none loaded libnl:\n" << none.err;
    // Nor libseccomp, in the CLI or the init: the build resolved the
    // profile and emitted the default program (sandbox/seccomp_gen.cpp).
    EXPECT_EQ(none.err.find("libseccomp"), std::string::npos) << none.err;
    // Positive control: the same check sees libnl where it is used.
    auto veth = run("private", "cat /sys/class/net/lo/flags /sys/class/net/eth0/operstate");
    ASSERT_EQ(veth.code, 0) << veth.err;
    EXPECT_EQ(veth.out, "0x9\nup\n");
    EXPECT_NE(veth.err.find("libnl-route-3.so"), std::string::npos) << veth.err;
    // Its firewall commit names protocols by number (firewall/render_detail.hpp):
    // libnftables never asks NSS, which would load its modules. The control:
    // where NSS resolves protocols through a module, getent shows it loaded.
    auto nss = l.in("LD_DEBUG=files getent protocols tcp");
    if (nss.err.find("file=libnss") == std::string::npos) {
        GTEST_SKIP() << "this host's NSS resolves protocols without loading a module";
    }
    EXPECT_EQ(veth.err.find("file=libnss"), std::string::npos) << "the commit asked NSS:\n" << veth.err;
}

// Under `ip netns exec`, which remounts /sys and so hides /sys/fs/cgroup,
// a container has no cgroup. Its record still names the instance whose mark
// its veth carries, so `run --rm` deletes that veth as its own; it used to
// take it for another instance's ("left ve-run-... alone"), whenever the
// kernel had not removed it with the namespace first.
TEST(Run, WithoutACgroupItsVethIsStillItsOwn) {
    lab l;
    const std::string moat = "ip netns exec " + l.host_ns() + " " + moat::test::moat_binary() + " --state-dir " +
                             l.state_dir() + " ";
    // The precondition, shown by a record that stays: no cgroup, the instance named.
    auto kept = moat::test::sh(moat + "run --name nocg --network private -- true");
    ASSERT_EQ(kept.code, 0) << kept.err;
    auto rec = nlohmann::json::parse(moat::test::sh("cat " + l.state_dir() + "/containers/nocg/record.json").out);
    EXPECT_EQ(rec["cgroup"], "");
    EXPECT_EQ(rec["instance"].get<std::string>().size(), 12u) << rec;
    ASSERT_EQ(moat::test::sh(moat + "down nocg").code, 0);
    for (int i = 0; i < 10; ++i) {
        auto r = moat::test::sh(moat + "run --rm --network private -- true");
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.err.find("alone"), std::string::npos) << r.err;
    }
    EXPECT_EQ(l.in("ip -o link show | grep -c ve- || true").out, "0\n");
}

// Without a cgroup there is no device filter (docs/SECURITY.md, devices:
// the third layer). A container whose configuration gives up another layer
// (CAP_MKNOD or CAP_SYS_ADMIN without a user namespace) or allows a device
// less than read and write (only the filter enforces that) is refused,
// before anything is made; any other starts,
// and moat says what it runs without. The control: the same file where
// /sys/fs/cgroup is mounted (nsenter) starts both.
TEST(Up, WithoutACgroupWhatNeedsTheDeviceFilterIsRefused) {
    lab l;
    const std::string opts = " --state-dir " + l.state_dir() + " ";
    const std::string no_cgroup = "ip netns exec " + l.host_ns() + " " + moat::test::moat_binary() + opts;
    const std::string with_cgroup = "nsenter --net=/run/netns/" + l.host_ns() + " " + moat::test::moat_binary() + opts;
    auto plain = l.write("plain.toml", "[containers.plain]\nservices.s.exec = [\"sleep\", \"30\"]\n");
    for (const auto& [name, lines] : std::vector<std::pair<std::string, std::string>>{
             {"mknod", "privateUsers = \"no\"\nadditionalCapabilities = [\"CAP_MKNOD\"]\n"},
             {"admin", "privateUsers = \"no\"\nadditionalCapabilities = [\"CAP_SYS_ADMIN\"]\n"},
             {"readonly", "allowedDevices = [ { node = \"/dev/null\", modifier = \"r\" } ]\n"}}) {
        auto file = l.write(name + ".toml", "[containers." + name + "]\n" + lines +
                                                "services.s.exec = [\"sleep\", \"30\"]\n");
        auto refused = moat::test::sh(no_cgroup + "up -f " + file);
        EXPECT_EQ(refused.code, 1) << name << ": " << refused.out << refused.err;
        EXPECT_NE(refused.err.find("container " + name + " needs its device filter ("), std::string::npos)
            << refused.err;
        EXPECT_EQ(moat::test::sh("test -e " + l.state_dir() + "/containers/" + name).code, 1) << name;
        auto started = moat::test::sh(with_cgroup + "up -f " + file);
        EXPECT_EQ(started.code, 0) << name << ": " << started.err;
        EXPECT_EQ(moat::test::sh(with_cgroup + "down -f " + file).code, 0) << name;
    }
    // In a user namespace CAP_MKNOD makes no device node, and a device
    // allowed read and write is no more than its node's permission bits
    // allow: those start.
    auto userns = l.write("userns.toml", "[containers.userns]\nadditionalCapabilities = [\"CAP_MKNOD\"]\n"
                                         "services.s.exec = [\"sleep\", \"30\"]\n");
    auto readwrite = l.write("readwrite.toml", "[containers.readwrite]\n"
                                               "allowedDevices = [ { node = \"/dev/null\", modifier = \"rw\" } ]\n"
                                               "services.s.exec = [\"sleep\", \"30\"]\n");
    for (const auto& file : {plain, userns, readwrite}) {
        auto r = moat::test::sh(no_cgroup + "up -f " + file);
        EXPECT_EQ(r.code, 0) << file << ": " << r.err;
        EXPECT_NE(r.err.find("note: no cgroup v2 hierarchy is mounted here"), std::string::npos) << r.err;
        EXPECT_EQ(moat::test::sh(no_cgroup + "down -f " + file).code, 0) << file;
    }
}

TEST(Container, DirectoryRootBindMountsAndDns) {
    lab l;
    // A minimal directory root that borrows the host's /usr read-only
    // (Debian's merged /usr makes /bin and /lib symlinks into it).
    std::string root = l.dir() + "/root";
    std::string data = l.dir() + "/data";
    auto mk = moat::test::sh("mkdir -p " + root + "/usr " + root + "/etc " + root + "/proc " + root + "/sys " +
                             root + "/dev " + root + "/tmp " + root + "/run " + root + "/data " + root + "/ro " +
                             data + " && for d in bin sbin lib lib64; do ln -s usr/$d " + root + "/$d; done" +
                             " && echo from-host > " + data + "/hello");
    ASSERT_EQ(mk.code, 0) << mk.err;
    std::string cfg = "[containers.dirroot]\nprivateNetwork = true\nroot = \"" + root + "\"\n"
                      "dns = [\"192.0.2.53\", \"2001:db8::53\"]\n"
                      "hostAddress = \"10.171.9.1\"\nlocalAddress = \"10.171.9.2\"\n"
                      "[containers.dirroot.bindMounts.\"/usr\"]\nhostPath = \"/usr\"\n"
                      "[containers.dirroot.bindMounts.\"/data\"]\nhostPath = \"" + data + "\"\nisReadOnly = false\n"
                      "[containers.dirroot.bindMounts.\"/ro\"]\nhostPath = \"" + data + "\"\n";
    up_ok(l, l.write("c.toml", cfg));
    // The directory root is the container's own and writable.
    EXPECT_EQ(l.moat("exec dirroot -- sh -c 'echo written > /written && cat /data/hello'").out, "from-host\n");
    EXPECT_EQ(moat::test::sh("cat " + root + "/written").out, "written\n");
    // A writable bind mount writes through to the host; a read-only one refuses.
    EXPECT_EQ(l.moat("exec dirroot -- sh -c 'echo back > /data/reply'").code, 0);
    EXPECT_EQ(moat::test::sh("cat " + data + "/reply").out, "back\n");
    EXPECT_NE(l.moat("exec dirroot -- sh -c 'echo x > /ro/nope'").code, 0);
    EXPECT_NE(l.moat("exec dirroot -- touch /usr/nope").code, 0);
    // Ephemeral: the same root, but writes land in a throw-away overlay.
    std::string eph = "[containers.eph]\nprivateNetwork = true\nroot = \"" + root + "\"\nephemeral = true\n"
                      "[containers.eph.bindMounts.\"/usr\"]\nhostPath = \"/usr\"\n";
    ASSERT_EQ(l.moat("up -f " + l.write("eph.toml", eph) + " eph").code, 0);
    EXPECT_EQ(l.moat("exec eph -- sh -c 'echo gone > /ephemeral && cat /ephemeral /written'").out, "gone\nwritten\n");
    EXPECT_NE(moat::test::sh("test -e " + root + "/ephemeral").code, 0);
    auto resolv = l.moat("exec dirroot -- cat /etc/resolv.conf");
    EXPECT_NE(resolv.out.find("nameserver 192.0.2.53\nnameserver 2001:db8::53\n"), std::string::npos) << resolv.out;
    auto hosts = l.moat("exec dirroot -- cat /etc/hosts");
    EXPECT_NE(hosts.out.find("10.171.9.2\tdirroot"), std::string::npos) << hosts.out;
}

TEST(Container, LoginGivesARootShellInside) {
    lab l;
    up_ok(l, l.write("c.toml", "[containers.shell]\nprivateNetwork = true\n"));
    auto r = moat::test::sh("echo 'id -u; cat /proc/1/comm; hostname; exit 7' | " + moat::test::enter(l.host_ns()) +
                            moat::test::moat_binary() + " --state-dir " + l.state_dir() + " login shell");
    EXPECT_EQ(r.code, 7) << r.err;
    EXPECT_EQ(r.out, "0\nmoat-init\nshell\n");
}

TEST(Container, SharedHostNetwork) {
    lab l;
    up_ok(l, l.write("c.toml", "[containers.shared]\nprivateNetwork = false\n"));
    // Same network namespace as the lab's host: the same links.
    auto inside = l.moat("exec shared -- readlink /proc/self/ns/net");
    auto host = l.in("readlink /proc/self/ns/net");
    EXPECT_EQ(inside.out, host.out);
    EXPECT_FALSE(inside.out.empty());
}
