#include "isolation/cgroup.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>

namespace moat::isolation {

std::optional<std::string> cgroup2_mount() {
    std::istringstream in(sys::read_file("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        // "... <mount point> <options> [optional fields] - <fstype> <source> ..."
        auto dash = line.find(" - ");
        if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) {
            continue;
        }
        std::istringstream fields(line.substr(0, dash));
        std::string id, parent, dev, root, mount_point;
        fields >> id >> parent >> dev >> root >> mount_point;
        if (root == "/") {
            return mount_point;
        }
    }
    return std::nullopt;
}

void create_cgroup(const std::string& path) {
    try {
        sys::make_dirs(path, 0755);
    } catch (...) {
        add_context("creating cgroup " + path);
    }
}

namespace {

bool populated(int events_fd) {
    char buf[256] = {};
    ssize_t n = ::pread(events_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        return false;  // gone: nothing left in it
    }
    return std::string(buf, static_cast<size_t>(n)).find("populated 1") != std::string::npos;
}

void kill_members(const std::string& path) {
    if (sys::path_exists(path + "/cgroup.kill")) {
        sys::write_file(path + "/cgroup.kill", "1");
        return;
    }
    std::istringstream procs(sys::read_file(path + "/cgroup.procs"));
    for (pid_t pid; procs >> pid;) {
        ::kill(pid, SIGKILL);
    }
}

}  // namespace

void destroy_cgroup(const std::string& path, std::chrono::milliseconds timeout) {
    if (!sys::path_exists(path)) {
        return;
    }
    sys::unique_fd events(::open((path + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (events && populated(events.get())) {
        kill_members(path);
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw moat::error("cgroup " + path + " still has processes after " +
                              std::to_string(timeout.count()) + " ms");
        }
        pollfd pfd{events.get(), POLLPRI, 0};
        // Bounded so that the pre-5.14 path (no cgroup.kill) re-kills forks.
        ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 50)));
    }
    events.reset();
    if (::rmdir(path.c_str()) < 0 && errno != ENOENT) {
        throw sys::errno_error("removing cgroup " + path);
    }
    // Parents shared with other containers stay while they have children.
    std::string dir = path;
    for (;;) {
        auto slash = dir.rfind('/');
        if (slash == std::string::npos || slash == 0) {
            break;
        }
        std::string name = dir.substr(slash + 1);
        dir = dir.substr(0, slash);
        if (name == "moat") {
            break;
        }
        if (::rmdir(dir.c_str()) < 0) {
            break;
        }
        if (dir.substr(dir.rfind('/') + 1) == "moat") {
            break;
        }
    }
}

}  // namespace moat::isolation
