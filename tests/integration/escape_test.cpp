// The escape suite (docs/SECURITY.md): what an attacker who is root inside
// a container tries, run from inside real containers — mknod and device
// opens, reading the host's secrets, planted symlinks and crafted paths,
// the system calls and /proc files Docker blocks — each asserted to fail,
// each with a positive control: the same probe succeeds where the
// configuration allows it (or outside the container), so no test passes
// because the probe itself is broken.
//
// The attack scripts are python3 from the host's root, which containers see
// read-only; they get their code on stdin (the lab's /tmp is not visible
// inside a container).
#include "lab.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <thread>

using moat::test::lab;
using moat::test::result;

namespace {

namespace fs = std::filesystem;

// Files a container must not read have to live where its root shows the
// host's tree: not under /tmp, /run or /root, which it gets fresh.
class visible_dir {
public:
    explicit visible_dir(const lab& l) : _path("/var/lib/moat-lab-" + l.id()) {
        fs::remove_all(_path);
        fs::create_directories(_path);
    }
    ~visible_dir() { fs::remove_all(_path); }
    const std::string& path() const { return _path; }
    std::string write(const std::string& name, const std::string& content, fs::perms mode) const {
        std::string p = _path + "/" + name;
        std::ofstream(p) << content;
        fs::permissions(p, mode);
        return p;
    }

private:
    std::string _path;
};

void up_ok(lab& l, const std::string& toml) {
    auto r = l.moat("up -f " + l.write("c.toml", toml));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

// Runs python3 code inside container `c` with `args`; its stdout is what
// the test reads.
result py(lab& l, const std::string& c, const std::string& code, const std::string& args = "") {
    std::string file = l.write("attack-" + c + ".py", code);
    return l.moat("exec " + c + " -- python3 - " + args + " < " + file);
}

// The same code on the lab's host, as root with nothing in the way.
result py_host(lab& l, const std::string& code, const std::string& args = "") {
    std::string file = l.write("control.py", code);
    return l.in("python3 - " + args + " < " + file);
}

// Makes a kmsg (c 1:11) and a loop (b 7:0) node in each directory given
// and opens it read-write.
const char* mknod_and_open = R"(
import os, stat, sys
def probe(path, major, minor, kind=stat.S_IFCHR):
    try:
        os.mknod(path, kind | 0o600, os.makedev(major, minor))
    except OSError as e:
        return "mknod:" + os.strerror(e.errno)
    try:
        os.close(os.open(path, os.O_RDWR))
        return "opened"
    except OSError as e:
        return "open:" + os.strerror(e.errno)
for d in sys.argv[1:]:
    print(d, probe(d + "/kmsg", 1, 11), probe(d + "/loop", 7, 0, stat.S_IFBLK))
)";

const char* read_files = R"(
import sys
for p in sys.argv[1:]:
    try: print(p, repr(open(p).read()))
    except OSError as e: print(p, "refused", e.strerror)
)";

}  // namespace

// Issue 12, item 1: mknod + open of host devices, through every writable
// place a container has, with and without a user namespace, even with
// CAP_MKNOD handed back.
TEST(Escape, NoDeviceNodeCanBeMadeOrOpened) {
    lab l;
    up_ok(l, R"(
[containers.userns]
[containers.rootful]
privateUsers = "no"
[containers.mknod]
privateUsers = "no"
additionalCapabilities = ["CAP_MKNOD"]
[containers.fuse]
privateUsers = "no"
allowedDevices = [{ node = "/dev/fuse", modifier = "rw" }]
[containers.eph]
ephemeral = true
privateUsers = "no"
additionalCapabilities = ["CAP_MKNOD"]
)");
    for (const char* c : {"userns", "rootful", "mknod"}) {
        auto r = py(l, c, mknod_and_open, "/tmp /dev/shm /run");
        ASSERT_EQ(r.code, 0) << c << ": " << r.err;
        EXPECT_EQ(r.out.find("opened"), std::string::npos) << c << ": " << r.out;
        // Three places, two nodes each: all six refused.
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ':'), 6) << c << ": " << r.out;
    }
    // With CAP_MKNOD and no user namespace, the device filter is what
    // refuses: "mknod" is the cgroup's EPERM — on the tmpfs mounts and on
    // the writable overlay root of an ephemeral container alike.
    auto mk = py(l, "mknod", mknod_and_open, "/tmp /dev/shm /run");
    EXPECT_NE(mk.out.find("mknod:Operation not permitted"), std::string::npos) << mk.out;
    auto eph = py(l, "eph", mknod_and_open, "/ /var /tmp");
    EXPECT_EQ(eph.out.find("opened"), std::string::npos) << eph.out << eph.err;
    EXPECT_EQ(std::count(eph.out.begin(), eph.out.end(), ':'), 6) << eph.out;
    EXPECT_NE(eph.out.find("/var mknod:Operation not permitted"), std::string::npos) << eph.out;
    // No host device beyond the allowlist is even there.
    auto ls = l.moat("exec userns -- ls /dev");
    EXPECT_EQ(ls.out.find("kmsg"), std::string::npos) << ls.out;
    EXPECT_EQ(ls.out.find("fuse"), std::string::npos) << ls.out;
    // Positive controls: a device the configuration allows opens, and the
    // probe itself works on the host.
    auto fuse = py(l, "fuse", "import os; os.close(os.open('/dev/fuse', os.O_RDWR)); print('opened')");
    EXPECT_EQ(fuse.out, "opened\n") << fuse.err;
    auto host = py_host(l, mknod_and_open, l.dir());
    EXPECT_EQ(host.out, l.dir() + " opened opened\n") << host.err;
}

// What a user namespace must still allow: root inside binds ports below
// 1024 in its own network namespace, and a container that asks for a tun
// device (NixOS's enableTun) gets one it can use — where one that did not
// ask has no node to open.
TEST(Escape, ContainedRootStillBindsLowPortsAndUsesTunWhenAsked) {
    lab l;
    up_ok(l, R"(
[containers.web]
privateNetwork = true
hostAddress = "10.171.9.1"
localAddress = "10.171.9.2"
firewall.allowedTCPPorts = [80]
[containers.web.services.http]
script = 'while true; do echo "low port" | nc -l -p 80; done'
restart = "always"
[containers.tun]
privateNetwork = true
enableTun = true
)");
    std::string line;
    for (int i = 0; i < 50 && line.empty(); ++i) {
        line = l.read_line("10.171.9.2", 80);
        if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(line, "low port\n");
    auto map = l.moat("exec web -- awk '{print $2}' /proc/self/uid_map");
    EXPECT_NE(map.out, "0\n") << "root inside is the host's root";
    auto tun = l.moat("exec tun -- sh -c 'ip tuntap add dev t0 mode tun && ip -o link show t0'");
    EXPECT_EQ(tun.code, 0) << tun.err;
    EXPECT_NE(tun.out.find("t0:"), std::string::npos) << tun.out;
    auto none = l.moat("exec web -- ip tuntap add dev t0 mode tun");
    EXPECT_NE(none.code, 0);
    EXPECT_EQ(l.moat("exec web -- ls /dev/net").code, 2);
}

// Item 2: the host's secrets, from a container that did not bind-mount
// them. A user namespace (the default) closes every root-only file; the
// known secrets are masked even for privateUsers = "no".
TEST(Escape, HostSecretsStayClosed) {
    lab l;
    visible_dir v(l);
    std::string rootonly = v.write("root-only", "secret\n", fs::perms::owner_read | fs::perms::owner_write);
    std::string other_key = v.write("other.key", "key-material\n", fs::perms::owner_read | fs::perms::owner_write);
    std::string open_file = v.write("world-readable", "public\n", fs::perms::owner_read | fs::perms::others_read | fs::perms::group_read);
    up_ok(l, R"(
[containers.userns]
[containers.rootful]
privateUsers = "no"
[containers.rootful.services.sleep]
script = "sleep 1000"
[pipes.other]
mode = "encrypt"
source = "127.0.0.1:7001"
target = "127.0.0.1:7002"
keyFile = ")" + other_key + R"("
container = "rootful"
)");
    auto userns = py(l, "userns", read_files, "/etc/shadow /etc/gshadow " + rootonly + " " + other_key + " " + open_file);
    EXPECT_NE(userns.out.find("/etc/shadow ''"), std::string::npos) << userns.out << userns.err;
    EXPECT_NE(userns.out.find("/etc/gshadow ''"), std::string::npos) << userns.out;
    EXPECT_NE(userns.out.find(rootonly + " refused Permission denied"), std::string::npos) << userns.out;
    EXPECT_NE(userns.out.find(other_key + " ''"), std::string::npos) << userns.out;
    // Root inside is root outside here: only the masks hold.
    auto rootful = py(l, "rootful", read_files, "/etc/shadow " + other_key + " " + rootonly);
    EXPECT_NE(rootful.out.find("/etc/shadow ''"), std::string::npos) << rootful.out << rootful.err;
    EXPECT_NE(rootful.out.find(other_key + " ''"), std::string::npos) << rootful.out;
    // Positive controls: the same reads work where nothing stops them — a
    // world-readable file next to the secrets, the root-only file for root
    // without a user namespace, and the pipe's own copy of its key.
    EXPECT_NE(userns.out.find(open_file + " 'public\\n'"), std::string::npos) << userns.out;
    EXPECT_NE(rootful.out.find(rootonly + " 'secret\\n'"), std::string::npos) << rootful.out;
    auto own = l.moat("exec rootful -- cat /run/moat/keys/other.key");
    EXPECT_EQ(own.out, "key-material\n") << own.err;
    auto shadow = l.in("test -s /etc/shadow && echo non-empty");
    EXPECT_EQ(shadow.out, "non-empty\n");
    // /root is the container's own, empty home.
    EXPECT_EQ(l.moat("exec userns -- ls -A /root").out, "");
}

// Item 7: paths inside a writable root are resolved inside it. A symlink
// planted in `root = DIR` pointing at a host directory must not make moat
// create or mount anything there.
TEST(Escape, PlantedSymlinksInADirectoryRootStayInside) {
    lab l;
    visible_dir v(l);
    std::string root = v.path() + "/root";
    std::string victim = v.path() + "/victim";
    fs::create_directories(victim);
    // The container's programs: the host's /usr, bound read-only.
    fs::create_directories(root + "/usr");
    for (const char* d : {"bin", "sbin", "lib", "lib64"}) {
        fs::create_directory_symlink(std::string("usr/") + d, root + "/" + d);
    }
    fs::create_directory_symlink(victim, root + "/etc");  // planted: /etc -> a host directory
    fs::create_directory_symlink(victim, root + "/mnt");
    std::string data = v.path() + "/data";
    fs::create_directories(data);
    up_ok(l, R"(
[containers.planted]
privateNetwork = true
root = ")" + root + R"("
dns = ["192.0.2.53"]
bindMounts."/usr" = { hostPath = "/usr" }
bindMounts."/mnt/planted" = { hostPath = ")" + data + R"(" }
)");
    // moat wrote resolv.conf and made the mount point — inside the root.
    EXPECT_EQ(l.moat("exec planted -- cat /etc/resolv.conf").out, "# written by moat\nnameserver 192.0.2.53\n");
    EXPECT_TRUE(fs::is_empty(victim)) << "moat created something in the host directory the symlink points to";
    EXPECT_TRUE(fs::exists(root + victim + "/resolv.conf"));
    EXPECT_TRUE(fs::is_directory(root + victim + "/planted"));
}

// Item 7, at load time: ".." segments and relative host paths are refused
// with file:line:col before anything is touched (exit 2, no state dir).
TEST(Escape, CraftedPathsAreRefusedBeforeAnythingChanges) {
    lab l;
    auto r = l.moat("up -f " + l.write("c.toml", R"([containers.c]
bindMounts."/tmp/../../../etc/nologin" = { hostPath = "/srv" }
[pipes.p]
mode = "encrypt"
source = "0.0.0.0:1"
target = "127.0.0.1:2"
keyFile = "relative.key"
)"));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("c.toml:2:12: error: bindMounts: mount point '/tmp/../../../etc/nologin': '..' segments are not allowed"),
              std::string::npos) << r.err;
    EXPECT_NE(r.err.find("c.toml:7:11: error: keyFile: expected an absolute path"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(l.state_dir()));
    EXPECT_FALSE(fs::exists("/etc/nologin"));
}

// Item 8: what Docker's profile and runc's masked paths keep from a
// container; the control runs the same code on the host.
TEST(Escape, BlockedSystemCallsAndMaskedProcFiles) {
    lab l;
    up_ok(l, "[containers.c]\nprivateNetwork = true\n");
    const std::string code = R"(
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
def call(name, *args):
    rc = libc.syscall(*args)
    print(name, "ok" if rc >= 0 else os.strerror(ctypes.get_errno()))
call("io_uring_setup", 425, 4, params)
call("kcmp", 312, os.getpid(), os.getpid(), 0, 0, 0)
pidfd = libc.syscall(434, os.getpid(), 0)
call("pidfd_getfd", 438, pidfd, 0, 0)
for p in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"]:
    try: print(p, len(open(p, "rb").read(4096)))
    except OSError as e: print(p, e.strerror)
if "inside" in sys.argv:  # never on the host
    try:
        open("/proc/sysrq-trigger", "w").write("h"); print("sysrq written")
    except OSError as e: print("sysrq", e.strerror)
print("firmware", sorted(os.listdir("/sys/firmware")))
)";
    auto inside = py(l, "c", code, "inside");
    ASSERT_EQ(inside.code, 0) << inside.err;
    for (const char* call : {"io_uring_setup", "kcmp", "pidfd_getfd"}) {
        EXPECT_EQ(inside.out.find(std::string(call) + " ok"), std::string::npos) << inside.out;
    }
    EXPECT_NE(inside.out.find("/proc/timer_list 0"), std::string::npos) << inside.out;
    EXPECT_NE(inside.out.find("/proc/keys 0"), std::string::npos) << inside.out;
    EXPECT_EQ(inside.out.find("sysrq written"), std::string::npos) << inside.out;
    EXPECT_NE(inside.out.find("firmware []"), std::string::npos) << inside.out;
    auto host = py_host(l, code);
    for (const char* call : {"io_uring_setup", "kcmp", "pidfd_getfd"}) {
        EXPECT_NE(host.out.find(std::string(call) + " ok"), std::string::npos) << host.out << host.err;
    }
    EXPECT_EQ(host.out.find("/proc/timer_list 0"), std::string::npos) << host.out;
    EXPECT_EQ(host.out.find("firmware []"), std::string::npos) << host.out;
}

// Building a root must never reach the host's own mount table: a copy of
// a shared mount joins its peer group, and unmounting under the copy (moat
// detaches the host's /run, /tmp... from it) would unmount the host's.
TEST(Escape, HostMountsSurviveUpAndDown) {
    lab l;
    struct shared_mount {
        std::string path;
        ~shared_mount() { moat::test::sh("umount " + path + "/sub; umount " + path); }
    } shared{l.dir() + "/shared"};
    ASSERT_EQ(moat::test::sh("mkdir -p " + shared.path + " && mount --bind " + shared.path + " " + shared.path +
                             " && mount --make-shared " + shared.path + " && mkdir -p " + shared.path +
                             "/sub && mount -t tmpfs lab-sub " + shared.path + "/sub").code, 0);
    auto mounted = [&] { return moat::test::sh("findmnt -rn -o TARGET " + shared.path + "/sub").out; };
    ASSERT_EQ(mounted(), shared.path + "/sub\n");
    up_ok(l, "[containers.a]\n[containers.b]\nprivateNetwork = true\n");
    EXPECT_EQ(mounted(), shared.path + "/sub\n") << "up unmounted a host mount";
    EXPECT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(mounted(), shared.path + "/sub\n") << "down unmounted a host mount";
}

namespace {

// Every container picks a uid range of its own, within one `up` and across
// two files' `up`s into one state directory: two sharing a range would make
// root in one the owner of the other's files. A recreated container gets
// its range back, so its files keep their owner (container/users.hpp).
TEST(Escape, EachContainerHoldsAUidRangeOfItsOwnAndGetsItBack) {
    lab l;
    std::string first = l.write("first.toml", "[containers.a]\n[containers.b]\n[containers.c]\n[containers.d]\n");
    std::string second = l.write("second.toml", "[containers.e]\n[containers.f]\n");
    for (const auto& f : {first, second}) {
        auto r = l.moat("up -f " + f);
        ASSERT_EQ(r.code, 0) << r.out << r.err;
    }
    auto base_of = [&](const std::string& c) {
        return l.moat("exec " + c + " -- awk '{print $2}' /proc/self/uid_map").out;
    };
    std::map<std::string, std::string> bases;
    std::set<std::string> distinct;
    for (const char* c : {"a", "b", "c", "d", "e", "f"}) {
        bases[c] = base_of(c);
        EXPECT_FALSE(bases[c].empty()) << c;
        EXPECT_NE(bases[c], "0\n") << c << ": root inside is the host's root";
        distinct.insert(bases[c]);
    }
    EXPECT_EQ(distinct.size(), 6u) << "two containers share a uid range";
    ASSERT_EQ(l.moat("down a e").code, 0);
    for (const auto& f : {first, second}) {
        ASSERT_EQ(l.moat("up -f " + f).code, 0);
    }
    EXPECT_EQ(base_of("a"), bases["a"]);
    EXPECT_EQ(base_of("e"), bases["e"]);
    // A range given by number is another's too, even to a container of the
    // same `up` prepared before it: a, recreated beside z, which is given
    // a's old range, moves on (z is the control: its range reads as given).
    ASSERT_EQ(l.moat("down a").code, 0);
    auto given = bases["a"].substr(0, bases["a"].size() - 1);
    auto r = l.moat("up -f " + l.write("third.toml", "[containers.a]\n[containers.z]\nprivateUsers = " + given + "\n"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(base_of("z"), bases["a"]);
    EXPECT_NE(base_of("a"), bases["a"]) << "a picked the range z was given";
    EXPECT_FALSE(base_of("a").empty());
}

}  // namespace
