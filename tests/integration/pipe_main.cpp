// main() of the pipe integration tests: every test process moves into a
// network namespace of its own before any thread or child exists, so moat,
// spiped and the test's servers meet on a private loopback (LAB.md) and
// never on the machine's 127.0.0.1, where a port could belong to someone
// else. Without root, a user namespace makes the network namespace possible.
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>

namespace {

void write_proc(const char* path, const std::string& text) {
    std::ofstream(path) << text;
}

bool enter_private_network() {
    if (geteuid() == 0) {
        if (unshare(CLONE_NEWNET) != 0) return false;
    } else {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return false;
        write_proc("/proc/self/setgroups", "deny");
        write_proc("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
        write_proc("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
    }
    // A new namespace's loopback is down; up, it also gets ::1.
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (!enter_private_network()) {
        std::fprintf(stderr, "pipe tests: cannot make a private network namespace: %s\n", std::strerror(errno));
        return 1;
    }
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
