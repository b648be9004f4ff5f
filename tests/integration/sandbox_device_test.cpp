// The device allowlist for real: test cgroups under the cgroup2 mount, one
// with the filter and a sibling without it, and a child process born in
// each (clone3 CLONE_INTO_CGROUP) that, as root with every capability,
// opens device nodes and makes new ones. The nodes it makes live on a tmpfs
// mounted in a private mount namespace (the host's /dev is never touched);
// nodes made there before the probe entered its cgroup stand for ones a
// container finds on its file systems.
#include "sandbox/cgroup.hpp"
#include "sandbox/device_filter.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <grp.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

namespace moat::sandbox {
namespace {

using namespace std::chrono_literals;

struct probe {
    const char* name;
    std::string path;
    bool make = false;  // mknod(path, mode, dev) rather than open(path, flags)
    int flags = 0;
    mode_t mode = 0;
    dev_t dev = 0;
};

probe opening(const char* name, std::string path, int flags) { return {name, std::move(path), false, flags, 0, 0}; }
probe making(const char* name, std::string path, mode_t mode, dev_t dev = 0) {
    return {name, std::move(path), true, 0, mode, dev};
}

constexpr std::size_t max_probes = 32;

pid_t clone_into(int cgroup_fd) {
    clone_args ca{};
    ca.flags = CLONE_INTO_CGROUP;
    ca.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    ca.exit_signal = SIGCHLD;
    return static_cast<pid_t>(::syscall(SYS_clone3, &ca, sizeof ca));
}

// The probe process: 0 or the errno of each probe, in one write.
[[noreturn]] void run_probes(const std::vector<probe>& probes, int out) noexcept {
    std::array<int, max_probes> results{};
    for (std::size_t i = 0; i < probes.size(); ++i) {
        const probe& p = probes[i];
        int rc = p.make ? ::mknod(p.path.c_str(), p.mode, p.dev) : ::open(p.path.c_str(), p.flags | O_CLOEXEC);
        results[i] = rc < 0 ? errno : 0;
        if (!p.make && rc >= 0) {
            ::close(rc);
        }
    }
    auto n = static_cast<ssize_t>(probes.size() * sizeof(int));
    ::_exit(::write(out, results.data(), static_cast<std::size_t>(n)) == n ? 0 : 3);
}

class SandboxDevices : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
        _mount = cgroup_mount();
        if (!_mount) {
            GTEST_SKIP() << "no cgroup2 mount";
        }
        _top = "moat-test-dev-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        char dir[] = "/tmp/moat-devtest-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        _dir = dir;
        _filtered = open_cgroup("filtered");
        _open = open_cgroup("open");
    }

    void TearDown() override {
        _filtered.reset();
        _open.reset();
        _nested.reset();
        if (_mount) {
            // Whatever a failed test left, deepest first: kill, then remove.
            for (const char* leaf : {"/filtered/nested", "/filtered", "/open"}) {
                try {
                    cgroup::destroy(_top + leaf, 2000ms);
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                }
            }
            EXPECT_FALSE(sys::path_exists(*_mount + "/" + _top));
        }
        if (!_dir.empty()) {
            EXPECT_EQ(::rmdir(_dir.c_str()), 0) << _dir << ": " << std::strerror(errno);
        }
    }

    sys::unique_fd open_cgroup(const std::string& leaf) {
        auto cg = cgroup::create(_top + "/" + leaf);
        if (!cg) {
            throw moat::error("no cgroup v2");
        }
        sys::unique_fd fd(::open(cg->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) {
            throw sys::errno_error("opening " + cg->path());
        }
        return fd;
    }

    // Runs `probes` in a process born in the cgroup at `cgroup_fd`. Its
    // parent, in the unfiltered sibling, first mounts a tmpfs on _dir in a
    // mount namespace of its own and makes the nodes "outside-kmsg"
    // (c 1:11) and "outside-null" (c 1:3) there.
    std::vector<int> run(int cgroup_fd, const std::vector<probe>& probes) {
        EXPECT_LE(probes.size(), max_probes);
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        sys::unique_fd r(fds[0]), w(fds[1]);
        std::string kmsg = _dir + "/outside-kmsg", null = _dir + "/outside-null";
        pid_t setup = clone_into(_open.get());
        if (setup == 0) {
            if (::unshare(CLONE_NEWNS) < 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
                ::_exit(10);
            }
            if (::mount("tmpfs", _dir.c_str(), "tmpfs", 0, "mode=0755") < 0) {
                ::_exit(11);
            }
            if (::mknod(kmsg.c_str(), S_IFCHR | 0600, ::makedev(1, 11)) < 0 ||
                ::mknod(null.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) < 0) {
                ::_exit(12);
            }
            pid_t prober = clone_into(cgroup_fd);
            if (prober == 0) {
                run_probes(probes, w.get());
            }
            int status = 0;
            if (prober < 0 || ::waitpid(prober, &status, 0) != prober) {
                ::_exit(13);
            }
            ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 14);
        }
        EXPECT_GT(setup, 0) << std::strerror(errno);
        w.reset();
        std::vector<int> results(probes.size(), -1);
        auto want = static_cast<ssize_t>(results.size() * sizeof(int));
        ssize_t n = ::read(r.get(), results.data(), static_cast<std::size_t>(want));
        int status = 0;
        EXPECT_EQ(::waitpid(setup, &status, 0), setup);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "setup/probe status " << status;
        EXPECT_EQ(n, want);
        EXPECT_TRUE(directory_empty(_dir)) << "the tmpfs leaked out of the probe's mount namespace";
        return results;
    }

    static bool directory_empty(const std::string& path) {
        DIR* d = ::opendir(path.c_str());
        if (!d) {
            return false;
        }
        int entries = 0;
        while (dirent* e = ::readdir(d)) {
            entries += std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0;
        }
        ::closedir(d);
        return entries == 0;
    }

    // Each probe's result in the filtered cgroup must be `filtered_errno`,
    // and in the unfiltered sibling 0: the denial is the filter's.
    void expect(const std::vector<probe>& probes, const std::vector<int>& expected_filtered) {
        auto filtered = run(_filtered.get(), probes);
        auto open = run(_open.get(), probes);
        for (std::size_t i = 0; i < probes.size(); ++i) {
            EXPECT_EQ(filtered[i], expected_filtered[i])
                << probes[i].name << " in the filtered cgroup: " << std::strerror(filtered[i]);
            EXPECT_EQ(open[i], 0) << probes[i].name << " in the unfiltered cgroup: " << std::strerror(open[i]);
        }
    }

    std::optional<std::string> _mount;
    std::string _top, _dir;
    sys::unique_fd _filtered, _open, _nested;
};

bool exists(const char* path) { return sys::path_exists(path); }

TEST_F(SandboxDevices, DefaultFilterAllowsTheListAndRefusesTheRest) {
    attach_device_filter(_filtered.get(), default_device_rules());
    std::vector<probe> probes = {
        opening("open /dev/null rw", "/dev/null", O_RDWR),
        opening("open /dev/urandom r", "/dev/urandom", O_RDONLY),
        opening("open outside-null rw (the tmpfs allows devices)", _dir + "/outside-null", O_RDWR),
        opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY),
        opening("open /dev/kmsg O_PATH (neither read nor write)", "/dev/kmsg", O_PATH),
        opening("open outside-kmsg w", _dir + "/outside-kmsg", O_WRONLY),
        making("mknod c 1 3", _dir + "/null", S_IFCHR | 0666, ::makedev(1, 3)),
        making("mknod c 1 11", _dir + "/kmsg", S_IFCHR | 0600, ::makedev(1, 11)),
        making("mknod b 7 0", _dir + "/loop0", S_IFBLK | 0600, ::makedev(7, 0)),
        making("mkfifo through mknod", _dir + "/fifo", S_IFIFO | 0600),
    };
    std::vector<int> expected = {0, 0, 0, EPERM, 0, EPERM, EPERM, EPERM, EPERM, 0};
    for (const char* node : {"/dev/loop-control", "/dev/kvm", "/dev/fuse"}) {
        if (exists(node)) {
            probes.push_back(opening(node, node, O_RDWR));
            expected.push_back(EPERM);
        } else {
            std::cerr << node << " is absent here; not probed\n";
        }
    }
    expect(probes, expected);
}

TEST_F(SandboxDevices, AnAddedRuleOpensFuseAndReplacesTheFilter) {
    if (!exists("/dev/fuse")) {
        GTEST_SKIP() << "no /dev/fuse";
    }
    attach_device_filter(_filtered.get(), default_device_rules());
    std::vector<probe> probes = {
        opening("open /dev/fuse rw", "/dev/fuse", O_RDWR),
        making("mknod c 10 229", _dir + "/fuse", S_IFCHR | 0600, ::makedev(10, 229)),
        opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY),
    };
    expect(probes, {EPERM, EPERM, EPERM});

    auto rules = default_device_rules();
    rules.push_back(device_rule_for("/dev/fuse", "rw"));
    attach_device_filter(_filtered.get(), rules);
    EXPECT_EQ(attached_device_filters(_filtered.get()).size(), 1u) << "a second attach replaces, not stacks";
    expect(probes, {0, EPERM, EPERM});  // rw, not m

    rules.back() = device_rule_for("/dev/fuse", "r");
    attach_device_filter(_filtered.get(), rules);
    expect({opening("open /dev/fuse r", "/dev/fuse", O_RDONLY), opening("open /dev/fuse rw", "/dev/fuse", O_RDWR)},
           {0, EPERM});
}

// A nested cgroup may take a device program of its own (ALLOW_MULTI), but
// every program on the path must allow: "allow everything" there loosens
// nothing, and a shorter list there narrows.
TEST_F(SandboxDevices, NestedCgroupsCanOnlyNarrowIt) {
    attach_device_filter(_filtered.get(), default_device_rules());
    _nested = open_cgroup("filtered/nested");
    std::vector<probe> probes = {opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY),
                                 making("mknod c 1 3", _dir + "/null", S_IFCHR | 0666, ::makedev(1, 3)),
                                 opening("open /dev/null rw", "/dev/null", O_RDWR),
                                 opening("open /dev/zero r", "/dev/zero", O_RDONLY)};
    device_rule everything{device_kind::any, std::nullopt, std::nullopt, device_access::all};
    attach_device_filter(_nested.get(), {everything});
    EXPECT_EQ(attached_device_filters(_nested.get()).size(), 1u);
    EXPECT_EQ(run(_nested.get(), probes), (std::vector<int>{EPERM, EPERM, 0, 0}));

    attach_device_filter(_nested.get(), {device_rule{device_kind::character, 1, 5, device_access::read}});
    EXPECT_EQ(run(_nested.get(), probes), (std::vector<int>{EPERM, EPERM, EPERM, 0}));
    EXPECT_EQ(run(_filtered.get(), probes), (std::vector<int>{EPERM, EPERM, 0, 0}));
    EXPECT_EQ(run(_open.get(), probes), (std::vector<int>{0, 0, 0, 0}));  // the control
}

int program_by_id(std::uint32_t id) {
    bpf_attr attr{};
    attr.prog_id = id;
    int fd = static_cast<int>(::syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &attr, sizeof attr));
    int err = errno;
    if (fd >= 0) {
        ::close(fd);
        return 0;
    }
    return err;
}

TEST_F(SandboxDevices, TheAttachmentOutlivesTheFdAndGoesWithTheCgroup) {
    EXPECT_TRUE(attached_device_filters(_filtered.get()).empty());
    attach_device_filter(_filtered.get(), default_device_rules());
    auto ids = attached_device_filters(_filtered.get());
    ASSERT_EQ(ids.size(), 1u);
    // attach_device_filter closed its fd: only the attachment holds it.
    EXPECT_EQ(program_by_id(ids[0]), 0);
    EXPECT_EQ(run(_filtered.get(), {opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY)}), std::vector<int>{EPERM});

    _filtered.reset();
    cgroup::remove_path(_top + "/filtered");
    // The cgroup's bpf state is released from a workqueue once it is gone.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int err = 0;
    while ((err = program_by_id(ids[0])) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(err, ENOENT) << "program " << ids[0] << " outlived its cgroup";
}

// A process born in the filtered cgroup, as uid 65534 without capabilities
// but free to call bpf() and holding an fd of its cgroup: BPF_PROG_DETACH
// cannot name moat's program without an fd of it, and it cannot get one.
// Control: handed such an fd, the same process detaches it, so the fd is
// all that stands in the way (and the probe is a real detach).
TEST_F(SandboxDevices, AnUnprivilegedProcessCannotDetachIt) {
    attach_device_filter(_filtered.get(), default_device_rules());
    auto ids = attached_device_filters(_filtered.get());
    ASSERT_EQ(ids.size(), 1u);
    bpf_attr get{};
    get.prog_id = ids[0];
    sys::unique_fd prog(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &get, sizeof get)));
    ASSERT_TRUE(prog) << std::strerror(errno);

    // 0: detached; else the errno of the detach, or 100 + that of a step before.
    auto detach_as_nobody = [&](int prog_fd) {
        pid_t pid = clone_into(_filtered.get());
        if (pid == 0) {
            if (::setgroups(0, nullptr) < 0 || ::setresgid(65534, 65534, 65534) < 0 ||
                ::setresuid(65534, 65534, 65534) < 0) {
                ::_exit(100 + errno);
            }
            bpf_attr by_id{};
            by_id.prog_id = ids[0];
            if (::syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &by_id, sizeof by_id) >= 0 || errno != EPERM) {
                ::_exit(99);  // it got an fd of the program after all
            }
            bpf_attr attr{};
            attr.target_fd = static_cast<std::uint32_t>(_filtered.get());
            attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_fd);
            attr.attach_type = BPF_CGROUP_DEVICE;
            ::_exit(::syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof attr) < 0 ? errno : 0);
        }
        int status = 0;
        EXPECT_EQ(::waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    };
    for (int fd : {-1, 0, _filtered.get()}) {  // no fd, stdin, the cgroup's own
        int rc = detach_as_nobody(fd);
        EXPECT_NE(rc, 0) << "detached naming fd " << fd;
        EXPECT_LT(rc, 99) << rc;
        EXPECT_EQ(attached_device_filters(_filtered.get()).size(), 1u);
    }
    EXPECT_EQ(run(_filtered.get(), {opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY)}), std::vector<int>{EPERM});

    EXPECT_EQ(detach_as_nobody(prog.get()), 0);
    EXPECT_TRUE(attached_device_filters(_filtered.get()).empty());
}

// How many eBPF program fds this process holds.
int program_fds() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        n += std::filesystem::read_symlink(e.path(), ec).string() == "anon_inode:bpf-prog";
    }
    return n;
}

// Within a device_program_reuse scope (`up`), cgroups with the same list
// get the same program, loaded once; attaching it again to a cgroup that
// has it keeps that one; when the scope ends this process holds no
// program fd and the filters still apply. The control: outside a scope
// each attach loads a program of its own.
TEST_F(SandboxDevices, AReuseScopeLoadsEachListOnce) {
    _nested = open_cgroup("filtered/nested");
    int fds_before = program_fds();
    attach_device_filter(_filtered.get(), default_device_rules());
    attach_device_filter(_nested.get(), default_device_rules());
    auto a = attached_device_filters(_filtered.get()), b = attached_device_filters(_nested.get());
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_NE(a[0], b[0]) << "the control: two loads, two programs";
    EXPECT_EQ(program_fds(), fds_before);
    {
        device_program_reuse scope;
        attach_device_filter(_filtered.get(), default_device_rules());
        attach_device_filter(_nested.get(), default_device_rules());
        a = attached_device_filters(_filtered.get());
        b = attached_device_filters(_nested.get());
        ASSERT_EQ(a.size(), 1u);
        ASSERT_EQ(b.size(), 1u);
        EXPECT_EQ(a[0], b[0]) << "one list, one program";
        EXPECT_EQ(program_fds(), fds_before + 1);
        attach_device_filter(_filtered.get(), default_device_rules());  // already there: kept, not detached
        EXPECT_EQ(attached_device_filters(_filtered.get()), a);
        attach_device_filter(_nested.get(), {tun_device_rule()});  // another list: another program
        b = attached_device_filters(_nested.get());
        ASSERT_EQ(b.size(), 1u);
        EXPECT_NE(b[0], a[0]);
        EXPECT_EQ(program_fds(), fds_before + 2);
    }
    EXPECT_EQ(program_fds(), fds_before);
    EXPECT_EQ(attached_device_filters(_filtered.get()), a);
    std::vector<probe> probes = {opening("open /dev/kmsg w", "/dev/kmsg", O_WRONLY),
                                 opening("open /dev/null rw", "/dev/null", O_RDWR)};
    EXPECT_EQ(run(_filtered.get(), probes), (std::vector<int>{EPERM, 0}));
    EXPECT_EQ(run(_nested.get(), probes), (std::vector<int>{EPERM, EPERM}));  // both lists apply there
    EXPECT_EQ(run(_open.get(), probes), (std::vector<int>{0, 0}));            // the control
}

TEST_F(SandboxDevices, ErrorsSayWhatFailed) {
    // No r0 before exit: the verifier's reason is in the message.
    std::vector<bpf_insn> bad(1);
    bad[0].code = BPF_JMP | BPF_EXIT;
    try {
        load_device_program(bad);
        ADD_FAILURE() << "the kernel took a program that returns nothing";
    } catch (const std::system_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("loading the eBPF program (1 instructions; verifier: "), std::string::npos) << what;
        EXPECT_NE(what.find("R0 !read_ok"), std::string::npos) << what;
    }
    // A directory that is not a cgroup.
    sys::unique_fd dir(::open(_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    try {
        attach_device_filter(dir.get(), default_device_rules());
        ADD_FAILURE() << "attached to a plain directory";
    } catch (const moat::error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("attaching the device filter to cgroup " + _dir + ": ", 0), 0u)
            << e.what();
        EXPECT_NE(e.code(), 0);
    }
}

// The verifier's own count of what it checked (log level BPF_LOG_STATS, 4):
// "processed N insns". Laid out as a tree (device_filter.cpp) the program
// is walked about once; laid out rule by rule, as before issue 17, the
// default list's 55 instructions were walked 211 times in 25 states (0.3-0.4
// ms of BPF_PROG_LOAD for each container).
long verifier_steps(const std::vector<bpf_insn>& prog) {
    static char log[16384];
    static constexpr char license[] = "GPL";
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<std::uintptr_t>(prog.data());
    attr.insn_cnt = static_cast<std::uint32_t>(prog.size());
    attr.license = reinterpret_cast<std::uintptr_t>(license);
    attr.log_buf = reinterpret_cast<std::uintptr_t>(log);
    attr.log_size = sizeof log;
    attr.log_level = 4;
    sys::unique_fd fd(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr)));
    if (!fd) {
        return -1;
    }
    const char* p = std::strstr(log, "processed ");
    return p ? std::strtol(p + 10, nullptr, 10) : -1;
}

TEST(SandboxDeviceVerifier, WalksTheProgramAboutOnce) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root";
    }
    auto defaults = default_device_rules();
    auto with_tun = defaults;
    with_tun.push_back(tun_device_rule());
    auto mixed = with_tun;
    mixed.push_back({device_kind::block, 8, std::nullopt, device_access::read});
    mixed.push_back({device_kind::block, 8, 0, device_access::read | device_access::write});
    mixed.push_back({device_kind::character, 10, 229, device_access::read | device_access::write});
    mixed.push_back({device_kind::any, 7, std::nullopt, device_access::read});
    mixed.push_back({device_kind::character, std::nullopt, 42, device_access::all});
    // A path that failed one major's test carries what it learnt into the
    // next one's: up to about twice the instructions with many groups.
    for (auto [rules, bound] : {std::pair{&defaults, 1.5}, {&with_tun, 1.5}, {&mixed, 2.5}}) {
        auto prog = device_filter_program(*rules);
        long steps = verifier_steps(prog);
        ASSERT_GT(steps, 0) << "the kernel refused the program or gave no statistics";
        EXPECT_LE(steps, static_cast<long>(static_cast<double>(prog.size()) * bound))
            << rules->size() << " rules, " << prog.size() << " instructions";
    }
}

}  // namespace
}  // namespace moat::sandbox
