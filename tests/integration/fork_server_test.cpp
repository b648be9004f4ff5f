// `up`'s fork server (container/fork_server.hpp), driven directly: what it
// clones is what spawn_init() clones — the caller's own child, with /dev/null
// on 0-2 and its socket on 3 and nothing else; a failed clone keeps
// spawn_init()'s message; the server never outlives its owner, kill -9
// included. Needs root (new namespaces).
#include "container/fork_server.hpp"
#include "container/spawn.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

using namespace moat::container;

namespace {

// fd number -> what it is ("/dev/null", "socket:[...]" as "socket").
std::map<int, std::string> fds_of(pid_t pid) {
    std::map<int, std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        auto target = std::filesystem::read_symlink(e.path(), ec).string();
        out[std::stoi(e.path().filename().string())] = target.rfind("socket:", 0) == 0 ? "socket" : target;
    }
    return out;
}

// The fds once the child is past its close_range (it then blocks reading its spec).
std::map<int, std::string> settled_fds_of(pid_t pid) {
    auto fds = fds_of(pid);
    for (int i = 0; i < 200 && fds.size() > 4; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        fds = fds_of(pid);
    }
    return fds;
}

std::string field(pid_t pid, int n) {  // /proc/PID/stat field n (1-based, after comm)
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(f)), {});
    auto at = all.rfind(')');
    if (at == std::string::npos) return "";
    std::istringstream rest(all.substr(at + 2));
    std::string v;
    for (int i = 3; i <= n && rest >> v; ++i) {
    }
    return v;
}

// Gone for our purposes: no such process, or a zombie.
bool gone(pid_t pid) {
    auto state = field(pid, 3);
    return state.empty() || state == "Z";
}

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!gone(pid) && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return gone(pid);
}

int wait_exit(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

}  // namespace

TEST(ForkServer, InitIsTheCallersChildWithTheSameDescriptorsAsADirectClone) {
    spawn_options o;
    o.new_network = true;
    o.name = "forktest";
    // Reference: the direct clone.
    auto direct = spawn_init(o);
    auto want = settled_fds_of(direct.pid);
    direct.channel.reset();  // EOF before a spec: the init exits
    EXPECT_TRUE(WIFEXITED(wait_exit(direct.pid)));
    EXPECT_EQ(want, (std::map<int, std::string>{{0, "/dev/null"}, {1, "/dev/null"}, {2, "/dev/null"}, {3, "socket"}}));

    fork_server server(MOAT_BINARY);
    EXPECT_EQ(field(server.pid(), 4), std::to_string(::getpid()));
    auto served = server.spawn(o);
    EXPECT_EQ(field(served.pid, 4), std::to_string(::getpid())) << "CLONE_PARENT: the caller's child, not the server's";
    EXPECT_EQ(settled_fds_of(served.pid), want);
    EXPECT_NE(std::filesystem::read_symlink("/proc/" + std::to_string(served.pid) + "/ns/net"),
              std::filesystem::read_symlink("/proc/self/ns/net"));
    served.channel.reset();
    int status = wait_exit(served.pid);  // only works for our own child
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

TEST(ForkServer, AFailedCloneKeepsItsMessageAndTheServerServesOn) {
    int not_a_cgroup = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(not_a_cgroup, 0);
    spawn_options o;
    o.new_network = false;
    o.cgroup_fd = not_a_cgroup;  // CLONE_INTO_CGROUP with a directory that is no cgroup
    std::string direct, served;
    try {
        spawn_init(o);
    } catch (const std::exception& e) {
        direct = e.what();
    }
    fork_server server(MOAT_BINARY);
    try {
        server.spawn(o);
    } catch (const std::exception& e) {
        served = e.what();
    }
    ::close(not_a_cgroup);
    EXPECT_NE(direct.find("creating the container's namespaces (clone3)"), std::string::npos) << direct;
    EXPECT_EQ(served, direct);
    std::printf("clone error, as spawn_init gives it: %s\n", served.c_str());
    // Positive control: the same server still clones.
    o.cgroup_fd = -1;
    auto child = server.spawn(o);
    EXPECT_GT(child.pid, 0);
    child.channel.reset();
    wait_exit(child.pid);
}

TEST(ForkServer, NeverOutlivesItsOwner) {
    pid_t server_pid;
    {
        fork_server server(MOAT_BINARY);
        server_pid = server.pid();
        EXPECT_FALSE(gone(server_pid));  // positive control
        std::string name;
        for (int i = 0; i < 100 && name != "moat-forks"; ++i) {  // it titles itself after the fork
            std::this_thread::sleep_for(std::chrono::milliseconds(i ? 10 : 0));
            std::ifstream comm("/proc/" + std::to_string(server_pid) + "/comm");
            std::getline(comm, name);
        }
        EXPECT_EQ(name, "moat-forks");
    }
    EXPECT_NE(::kill(server_pid, 0), 0) << "reaped by the destructor";

    // kill -9 of the owner: a child of ours starts a server, tells its pid, waits.
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t owner = ::fork();
    ASSERT_GE(owner, 0);
    if (owner == 0) {
        ::close(pipefd[0]);
        fork_server server(MOAT_BINARY);
        pid_t p = server.pid();
        (void)!::write(pipefd[1], &p, sizeof p);
        ::pause();
        ::_exit(0);
    }
    ::close(pipefd[1]);
    pid_t orphan = -1;
    ASSERT_EQ(::read(pipefd[0], &orphan, sizeof orphan), static_cast<ssize_t>(sizeof orphan));
    ::close(pipefd[0]);
    EXPECT_FALSE(gone(orphan));  // positive control
    ::kill(owner, SIGKILL);
    wait_exit(owner);
    EXPECT_TRUE(gone_within(orphan, std::chrono::seconds(2))) << "fork server " << orphan << " outlived its owner";
}

// The server is the moat binary executed again, not a fork of its caller:
// the caller's pages are never shared with it (a fork made each page `up`
// then wrote a copy-on-write fault in the CLI). Its own heap is the one its
// inits share. An init still has room for its title, and `moat
// __fork-server` run by hand, without a caller's socket, exits at once.
TEST(ForkServer, IsTheMoatBinaryExecutedAgainSharingNoPageWithItsCaller) {
    fork_server server(MOAT_BINARY);
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(server.pid()) + "/exe");
    EXPECT_EQ(exe, std::filesystem::canonical(MOAT_BINARY));
    // Positive control for the maps check below: our own heap is listed in ours.
    auto maps = [](const std::string& pid) {
        std::ifstream f("/proc/" + pid + "/maps");
        return std::string((std::istreambuf_iterator<char>(f)), {});
    };
    auto ours = maps("self");
    auto heap_at = ours.find("[heap]");
    ASSERT_NE(heap_at, std::string::npos);
    auto line = ours.substr(ours.rfind('\n', heap_at) + 1, heap_at - ours.rfind('\n', heap_at) - 1);
    auto range = line.substr(0, line.find(' '));
    EXPECT_EQ(maps(std::to_string(server.pid())).find(range), std::string::npos) << "the server maps our heap " << range;

    spawn_options o;
    o.new_network = false;
    o.name = "a-container-with-a-long-name";
    auto child = server.spawn(o);
    std::string cmdline;
    for (int i = 0; i < 100 && cmdline.find("moat-init") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(i ? 10 : 0));
        std::ifstream f("/proc/" + std::to_string(child.pid) + "/cmdline");
        cmdline.assign((std::istreambuf_iterator<char>(f)), {});
    }
    EXPECT_EQ(cmdline.substr(0, cmdline.find('\0', 10)), std::string("moat-init\0a-container-with-a-long-name", 38));
    child.channel.reset();
    wait_exit(child.pid);

    auto by_hand = std::system((std::string(MOAT_BINARY) + " __fork-server " + std::to_string(::getpid()) +
                                " x </dev/null 3</dev/null").c_str());
    EXPECT_TRUE(WIFEXITED(by_hand) && WEXITSTATUS(by_hand) == 1) << by_hand;
}
