// Issue 15, "Boot": the sd_notify datagram (to a real socket, by path and in
// the abstract namespace) and the "0::" line of /proc/self/cgroup.
#include "sandbox/cgroup_layout.hpp"
#include "sys/notify.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// A datagram socket bound to `name` (a path, or "@abstract").
int listener(const std::string& name) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
        a.sun_path[0] = '\0';
    } else {
        ++len;
    }
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0) << std::strerror(errno);
    return fd;
}

std::string receive(int fd) {
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

TEST(Notify, SendsOneDatagramToAPathSocket) {
    std::string path = "/tmp/moat-notify-test-" + std::to_string(::getpid());
    ::unlink(path.c_str());
    int fd = listener(path);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    EXPECT_TRUE(moat::sys::notify_enabled());
    EXPECT_TRUE(moat::sys::notify("READY=1\nSTATUS=2 containers running"));
    EXPECT_EQ(receive(fd), "READY=1\nSTATUS=2 containers running");
    ::close(fd);
    ::unlink(path.c_str());
    ::unsetenv("NOTIFY_SOCKET");
}

TEST(Notify, SendsToAnAbstractSocket) {
    std::string name = "@moat-notify-test-" + std::to_string(::getpid());
    int fd = listener(name);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    EXPECT_TRUE(moat::sys::notify("WATCHDOG=1"));
    EXPECT_EQ(receive(fd), "WATCHDOG=1");
    ::close(fd);
    ::unsetenv("NOTIFY_SOCKET");
}

TEST(Notify, DoesNothingWithoutASocket) {
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(moat::sys::notify_enabled());
    EXPECT_FALSE(moat::sys::notify("READY=1"));
    ::setenv("NOTIFY_SOCKET", "relative/path", 1);  // neither "/" nor "@": not a socket address
    EXPECT_FALSE(moat::sys::notify("READY=1"));
    ::unsetenv("NOTIFY_SOCKET");
}

TEST(CgroupLayout, UnifiedPathOfProcSelfCgroup) {
    using moat::sandbox::unified_path_from;
    // A hybrid host: v1 controllers first, the v2 line last.
    EXPECT_EQ(unified_path_from("12:pids:/system.slice/moat@box.service\n1:name=systemd:/system.slice/moat@box.service\n"
                                "0::/system.slice/moat@box.service\n"),
              "/system.slice/moat@box.service");
    EXPECT_EQ(unified_path_from("0::/\n"), "/");
    EXPECT_EQ(unified_path_from("4:memory:/x\n"), "/");  // v1 only: no unified line
}
