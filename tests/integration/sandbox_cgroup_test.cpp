// cgroup v2 for real, under a per-test path below the cgroup2 mount:
// processes that fork grandchildren and ignore SIGTERM, then kill_all.
#include "sandbox/cgroup.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace moat::sandbox {
namespace {

using namespace std::chrono_literals;

char process_state(pid_t pid) {
    try {
        std::string stat = sys::read_file("/proc/" + std::to_string(pid) + "/stat");
        return stat.at(stat.rfind(')') + 2);
    } catch (const std::exception&) {
        return 'X';  // gone
    }
}

class SandboxCgroup : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
        _mount = cgroup_mount();
        if (!_mount) {
            GTEST_SKIP() << "no cgroup2 mount";
        }
        _top = "moat-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    void TearDown() override {
        if (_mount) {
            // Whatever a failed test left: kill and remove, deepest first.
            for (const char* leaf : {"/inst/c1", "/inst/c2"}) {
                try {
                    cgroup::destroy(_top + leaf, 2000ms);
                } catch (const std::exception&) {
                }
            }
        }
    }

    // A child in `cg` that starts `n` grandchildren ignoring SIGTERM (one in
    // its own session, double-forked away); returns the child's PID and the
    // grandchildren's through `grandchildren`.
    pid_t populate(const cgroup& cg, int n, std::vector<pid_t>& grandchildren) {
        int go[2], report[2];
        EXPECT_EQ(::pipe2(go, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(report, O_CLOEXEC), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            char c;
            if (::read(go[0], &c, 1) != 1) {
                ::_exit(1);
            }
            ::signal(SIGTERM, SIG_IGN);
            for (int i = 0; i < n; ++i) {
                pid_t g = ::fork();
                if (g == 0) {
                    if (i == 0 && ::setsid() >= 0 && ::fork() > 0) {
                        ::_exit(0);  // the grandchild's own child lives on, reparented
                    }
                    pid_t me = ::getpid();
                    [[maybe_unused]] auto w = ::write(report[1], &me, sizeof me);
                    for (;;) {
                        ::pause();
                    }
                }
            }
            for (;;) {
                ::pause();
            }
        }
        ::close(go[0]);
        ::close(report[1]);
        cg.attach(pid);  // before it forks: its descendants are born inside
        EXPECT_EQ(::write(go[1], "g", 1), 1);
        ::close(go[1]);
        for (int i = 0; i < n; ++i) {
            pid_t g;
            EXPECT_EQ(::read(report[0], &g, sizeof g), static_cast<ssize_t>(sizeof g));
            grandchildren.push_back(g);
        }
        ::close(report[0]);
        return pid;
    }

    void kill_and_check(kill_method method) {
        auto cg = cgroup::create(_top + "/inst/c1");
        ASSERT_TRUE(cg);
        std::vector<pid_t> grandchildren;
        pid_t child = populate(*cg, 3, grandchildren);
        auto pids = cg->pids();
        EXPECT_TRUE(cg->populated());
        EXPECT_TRUE(std::find(pids.begin(), pids.end(), child) != pids.end());
        for (pid_t g : grandchildren) {
            EXPECT_TRUE(std::find(pids.begin(), pids.end(), g) != pids.end()) << g;
        }
        ::kill(child, SIGTERM);  // ignored: kill_all must not depend on it
        cg->kill_all(2000ms, method);
        EXPECT_FALSE(cg->populated());
        EXPECT_TRUE(cg->pids().empty());
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
        for (pid_t g : grandchildren) {
            // Reparented to the machine's init, which reaps them; a zombie
            // is already dead.
            char st = process_state(g);
            EXPECT_TRUE(st == 'X' || st == 'Z') << g << " is " << st;
        }
        cg->remove();
        EXPECT_FALSE(sys::path_exists(*_mount + "/" + _top));
    }

    std::optional<std::string> _mount;
    std::string _top;
};

TEST_F(SandboxCgroup, CreateIsIdempotentAndAcceptsAbsolutePaths) {
    auto a = cgroup::create(_top + "/inst/c1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->path(), *_mount + "/" + _top + "/inst/c1");
    EXPECT_TRUE(sys::path_exists(a->path() + "/cgroup.procs"));
    auto b = cgroup::create(a->path());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->path(), a->path());
    EXPECT_FALSE(a->populated());
    a->remove();
    EXPECT_FALSE(sys::path_exists(*_mount + "/" + _top));
}

TEST_F(SandboxCgroup, RejectsPathsOutsideTheMount) {
    EXPECT_THROW(cgroup::create("/tmp/x"), moat::error);
    EXPECT_THROW(cgroup::create(_top + "/../escape"), moat::error);
    EXPECT_THROW(cgroup::create(""), moat::error);
}

TEST_F(SandboxCgroup, KillAllWithCgroupKill) { kill_and_check(kill_method::automatic); }

TEST_F(SandboxCgroup, KillAllBySignallingEachPid) { kill_and_check(kill_method::signal_each); }

TEST_F(SandboxCgroup, KillAllOfAnEmptyCgroupReturnsAtOnce) {
    auto cg = cgroup::create(_top + "/inst/c1");
    ASSERT_TRUE(cg);
    auto t0 = std::chrono::steady_clock::now();
    cg->kill_all(5000ms);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    cg->remove();
}

TEST_F(SandboxCgroup, RemoveKeepsParentsOtherContainersStillUse) {
    auto c1 = cgroup::create(_top + "/inst/c1");
    auto c2 = cgroup::create(_top + "/inst/c2");
    ASSERT_TRUE(c1 && c2);
    c1->remove();
    EXPECT_FALSE(sys::path_exists(c1->path()));
    EXPECT_TRUE(sys::path_exists(c2->path()));
    c1->remove();  // again: absent is fine
    c2->remove();
    EXPECT_FALSE(sys::path_exists(*_mount + "/" + _top));
}

TEST_F(SandboxCgroup, DestroyFromARecordedPathKillsAndRemoves) {
    std::vector<pid_t> grandchildren;
    pid_t child;
    std::string path;
    {
        auto cg = cgroup::create(_top + "/inst/c1");
        ASSERT_TRUE(cg);
        path = cg->path();
        child = populate(*cg, 2, grandchildren);
    }  // only the path survives, as after a crash of moat
    cgroup::destroy(path, 2000ms);
    EXPECT_FALSE(sys::path_exists(*_mount + "/" + _top));
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_NO_THROW(cgroup::destroy(path, 100ms));  // already gone
    EXPECT_NO_THROW(cgroup::remove_path(path));
}

}  // namespace
}  // namespace moat::sandbox
