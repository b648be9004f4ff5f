// The tunnel daemon's process: started by the runner with none of its
// privileges.
//
// Theory of operation: the runner (`moat __tunnel`, moat's own small code)
// keeps CAP_NET_ADMIN over the host's network namespace because it routes:
// the tunnel's default route, its rules, the device's addresses. The daemon
// (openvpn, wireguard-go) parses TLS, provider files, pushed options and
// packets from the internet; if it is compromised it must not be able to
// touch `table inet moat`, the policy rules, the routes or tc — the two
// kill-switch layers. So the runner creates the tunnel device itself and
// the daemon only uses it (the device's file descriptor, or a persistent
// device owned by the daemon's uid, which the kernel lets its owner attach
// to: tun_not_capable() in drivers/net/tun.c). Between fork and execve the
// child, in this order (each step needs the privilege a later one removes):
//
//  1. empties the capability bounding set and the ambient set (needs
//     CAP_SETPCAP, still held), so no execve can hand a capability back;
//  2. setgroups(0), setresgid, setresuid to the tunnel's own uid/gid (not
//     0, used by nothing else: the tunnel's routing table number,
//     0x6d74xxxx), which clears the permitted and effective sets; then
//     capset() clears what a securebit might have kept and the
//     inheritable set: every set is 0;
//  3. no_new_privs (inherited from the container's service already);
//  4. for wireguard-go only, a seccomp filter of its own, stacked on moat's
//     (daemon.cpp says why);
//  5. PR_SET_PDEATHSIG = SIGKILL — after setresuid, which clears it — so
//     a runner killed with -9 takes its daemon with it;
//  6. execve; a failure of any step comes back through a close-on-exec pipe.
//
// The uid owns nothing on the host: from it the daemon can read what any
// user can, write nowhere that matters, and send packets through its
// sockets; rtnetlink, nfnetlink and tc requests are answered EPERM.
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace moat::tunnel {

struct daemon_identity {
    uid_t uid = 0;
    gid_t gid = 0;
};

struct daemon_spec {
    std::vector<std::string> argv;  // argv[0] is looked up in PATH
    std::vector<std::string> env;   // "NAME=value", added to the runner's environment
    std::vector<int> fds;           // become the daemon's fds 3, 4, ...; every other fd but 0-2 is closed
    std::string cwd;                // "" = the runner's
    daemon_identity who;
    bool fake_set_mtu = false;      // wireguard-go: ioctl SIOCSIFMTU succeeds without effect
};

// Forks and executes the daemon; throws with the step and errno if it could
// not be started.
pid_t start_daemon(const daemon_spec& spec);

// A unix stream socket listening at `path` (whatever was there is
// removed), the file owned by `who` and mode 0600: the daemon may connect
// to it (OpenVPN's management client) or watch it (wireguard-go watches
// its UAPI socket with inotify, which needs read access), the runner as
// root may too, nobody else.
sys::unique_fd listen_unix(const std::string& path, const daemon_identity& who);

// Steps 1-4 above for the calling task alone (between the start of the
// daemon's child and its execve: never throws, returns 0 or an errno value;
// the credentials change through raw system calls, so in a multi-threaded
// process only the calling thread's would). Exposed so that tests can run a
// probe with exactly the daemon's credentials.
int become_daemon_user(const daemon_identity& who, bool fake_set_mtu) noexcept;

}  // namespace moat::tunnel
