// moat_tunnel_probe UID GID FAKE_SET_MTU(0|1) COMMAND [ARG...]
//
// Runs COMMAND with exactly the credentials moat's tunnel runner gives its
// daemon: the same function (tunnel::become_daemon_user) drops the same
// privileges, from root, before execvp. The VPN privilege tests run attacks
// on the kill switch with it, and compare its /proc/self/status with the
// real daemon's.
#include "tunnel/daemon.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s UID GID FAKE_SET_MTU COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    moat::tunnel::daemon_identity who{static_cast<uid_t>(std::strtoul(argv[1], nullptr, 10)),
                                      static_cast<gid_t>(std::strtoul(argv[2], nullptr, 10))};
    if (int e = moat::tunnel::become_daemon_user(who, std::strcmp(argv[3], "1") == 0)) {
        std::fprintf(stderr, "moat_tunnel_probe: dropping privileges: %s\n", std::strerror(e));
        return 126;
    }
    ::execvp(argv[4], argv + 4);
    std::perror(argv[4]);
    return 127;
}
