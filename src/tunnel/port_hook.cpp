// `moat __port-hook <file> <command>`: the service `port-hook` of a
// container that receives its tunnel's forwarded port and has onChange
// (plan/port_forwarding.hpp). It runs inside the container as one of its
// services — with the container's user namespace, capabilities and
// seccomp filter — so the hook can never act with the host's privileges.
//
// The tunnel runner replaces the file by rename(2) each time a port is
// assigned after the tunnel came up, or changes; the file's directory is
// a bind of the host's, so inotify (which watches the inode, wherever it
// is mounted) sees IN_MOVED_TO for it. The hook runs once per such event,
// one at a time, and once at start when the file already exists (the
// container was restarted after the port was assigned).
#include "tunnel/tunnel.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace moat::tunnel {

namespace {

std::uint16_t read_port(const std::string& file) {
    std::ifstream in(file);
    long port = 0;
    if (!(in >> port) || port < 1 || port > 65535) {
        return 0;
    }
    return static_cast<std::uint16_t>(port);
}

void run_hook(const std::string& command, std::uint16_t port) {
    std::fprintf(stderr, "moat: forwarded port %u: running onChange\n", port);
    pid_t pid = ::fork();
    if (pid < 0) {
        throw sys::errno_error("starting onChange");
    }
    if (pid == 0) {
        ::setenv("MOAT_FORWARDED_PORT", std::to_string(port).c_str(), 1);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "moat: forwarded port %u: onChange %s %d\n", port,
                     WIFEXITED(status) ? "exited with status" : "was killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

}  // namespace

int port_hook(const std::string& file, const std::string& command) {
    auto slash = file.rfind('/');
    const std::string dir = file.substr(0, slash), name = file.substr(slash + 1);
    sys::unique_fd in(::inotify_init1(IN_CLOEXEC));
    if (!in) {
        throw sys::errno_error("watching " + dir);
    }
    // Watching before the first look: a rename between the two is seen.
    if (::inotify_add_watch(in.get(), dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        throw sys::errno_error("watching " + dir);
    }
    if (auto port = read_port(file)) {
        run_hook(command, port);
    }
    alignas(inotify_event) char buf[4096];
    for (;;) {
        ssize_t n = ::read(in.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw sys::errno_error("reading inotify events of " + dir);
        }
        bool changed = false;
        for (char* p = buf; p < buf + n;) {
            auto* ev = reinterpret_cast<inotify_event*>(p);
            changed |= (ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && name == ev->name);
            p += sizeof(inotify_event) + ev->len;
        }
        if (changed) {
            if (auto port = read_port(file)) {
                run_hook(command, port);
            }
        }
    }
}

}  // namespace moat::tunnel
