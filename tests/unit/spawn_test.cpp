// sys::spawn_sharing_memory (issue 17): a child that shares the caller's
// memory until it execs, while its credentials, signal dispositions and
// descriptors stay its own. Runs without root.
#include "sys/spawn.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace {

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

// The positive control for the sharing: a fork() would pass every other
// test here, not this one.
TEST(SpawnSharingMemory, TheChildsWritesAreTheCallersAndItsReturnIsItsStatus) {
    if (!moat::sys::spawn_shares_memory()) {
        GTEST_SKIP() << "the AddressSanitizer build forks (sys/spawn.cpp)";
    }
    int seen = 0;
    pid_t pid = moat::sys::spawn_sharing_memory(
        [](void* p) -> int {
            *static_cast<int*>(p) = 42;
            return 7;
        },
        &seen);
    ASSERT_GT(pid, 0);
    EXPECT_EQ(seen, 42);
    int status = wait_status(pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 7);
}

// The caller is suspended until the child is gone from its memory: what the
// child wrote just before its exit is there when the call returns.
TEST(SpawnSharingMemory, TheCallerWaitsUntilTheChildExits) {
    if (!moat::sys::spawn_shares_memory()) {
        GTEST_SKIP() << "the AddressSanitizer build forks (sys/spawn.cpp)";
    }
    int seen = 0;
    pid_t pid = moat::sys::spawn_sharing_memory(
        [](void* p) -> int {
            timespec t{0, 50 * 1000 * 1000};
            ::nanosleep(&t, nullptr);
            *static_cast<int*>(p) = 1;
            return 0;
        },
        &seen);
    ASSERT_GT(pid, 0);
    EXPECT_EQ(seen, 1);
    wait_status(pid);
}

TEST(SpawnSharingMemory, ExecReleasesTheCallerAndRunsTheProgram) {
    struct args {
        const char* path;
        int err = 0;
    } a{"/bin/sh"};
    pid_t pid = moat::sys::spawn_sharing_memory(
        [](void* p) -> int {
            auto* a = static_cast<args*>(p);
            char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("exit 3"),
                                  nullptr};
            ::execv(a->path, argv);
            a->err = errno;
            return 127;
        },
        &a);
    ASSERT_GT(pid, 0);
    EXPECT_EQ(a.err, 0);
    int status = wait_status(pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
}

// Signal dispositions, the signal mask and descriptors are the child's own:
// what it changes there is not the caller's. It starts with every signal
// blocked (no handler of the caller's can run on the shared memory).
TEST(SpawnSharingMemory, DispositionsMaskAndDescriptorsStayTheChilds) {
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &before), 0);
    ASSERT_EQ(before.sa_handler, SIG_DFL);
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    struct args {
        int fd;
        bool all_blocked = false;
    } a{fds[1]};
    pid_t pid = moat::sys::spawn_sharing_memory(
        [](void* p) -> int {
            auto* a = static_cast<args*>(p);
            sigset_t mask;
            ::sigprocmask(SIG_SETMASK, nullptr, &mask);
            a->all_blocked = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGUSR1) == 1;
            struct sigaction ign {};
            ign.sa_handler = SIG_IGN;
            ::sigaction(SIGUSR1, &ign, nullptr);
            ::close(a->fd);
            return 0;
        },
        &a);
    ASSERT_GT(pid, 0);
    wait_status(pid);
    if (moat::sys::spawn_shares_memory()) {
        EXPECT_TRUE(a.all_blocked);
    }
    struct sigaction after {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &after), 0);
    EXPECT_EQ(after.sa_handler, SIG_DFL);
    EXPECT_EQ(::fcntl(fds[1], F_GETFD), FD_CLOEXEC);  // still open here
    sigset_t mine;
    ::sigprocmask(SIG_SETMASK, nullptr, &mine);
    EXPECT_EQ(sigismember(&mine, SIGTERM), 0);  // the caller's mask is back
    ::close(fds[0]);
    ::close(fds[1]);
}

}  // namespace
