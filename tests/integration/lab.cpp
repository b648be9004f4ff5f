#include "lab.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <cstdio>
#include <fstream>
#include <poll.h>
#include <stdexcept>

namespace moat::test {

std::string moat_binary() { return MOAT_BINARY; }
std::string source_dir() { return MOAT_SOURCE_DIR; }

result sh(const std::string& cmd, std::chrono::seconds timeout) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0) {
        throw std::runtime_error("pipe");
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    result r;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(-pid, SIGKILL);
            r.err += "\n[test harness: timed out after " + std::to_string(timeout.count()) + " s: " + cmd + "]";
            break;
        }
        if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        for (auto& f : fds) {
            if (f.fd >= 0 && (f.revents & (POLLIN | POLLHUP))) {
                std::string& into = (f.fd == out[0]) ? r.out : r.err;
                char buf[4096];
                ssize_t n = ::read(f.fd, buf, sizeof buf);
                if (n > 0) {
                    into.append(buf, static_cast<size_t>(n));
                } else {
                    f.fd = -1;
                    --open_fds;
                }
            }
        }
    }
    // No final blocking read: a daemon the command started may still hold the pipe.
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

std::string enter(const std::string& ns) {
    // nsenter joins only the network namespace: unlike `ip netns exec` it
    // keeps the machine's mount namespace, so moat sees the real cgroup2
    // mount (ip netns exec remounts /sys and hides /sys/fs/cgroup).
    return "nsenter --net=/run/netns/" + ns + " ";
}

static std::string unique_id() {
    static std::atomic<int> counter{0};
    char buf[32];
    // pid (mod 2^20) + counter keeps names short: interface and namespace
    // names derived from it must fit in 15 bytes.
    std::snprintf(buf, sizeof buf, "%05x%x", static_cast<unsigned>(::getpid()) & 0xfffff, counter++ & 0xf);
    return buf;
}

lab::lab() : _id(unique_id()) {
    _dir = "/tmp/moat-lab-" + _id;
    sh("rm -rf " + _dir + " && mkdir -p " + _dir);
    _state_dir = _dir + "/state";
    _host_ns = add_ns("h");
}

std::string lab::add_ns(const std::string& role) {
    std::string ns = "mt-" + _id + "-" + role;
    auto r = sh("ip netns add " + ns + " && ip -n " + ns + " link set lo up");
    if (r.code != 0) {
        throw std::runtime_error("creating lab namespace " + ns + ": " + r.err);
    }
    _namespaces.push_back(ns);
    return ns;
}

// Containers live in network namespaces of their own, which ~lab's loop
// over the lab's namespaces does not reach: when `down` failed, the
// cgroups the records still name are killed and removed.
static void kill_recorded_cgroups(const std::string& state_dir) {
    std::vector<std::string> cgroups;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(state_dir + "/containers", ec)) {
        std::ifstream in(e.path() / "record.json");
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_object() && !j.value("cgroup", std::string()).empty()) {
            cgroups.push_back(j["cgroup"]);
        }
    }
    for (const auto& cg : cgroups) {
        std::ofstream(cg + "/cgroup.kill") << "1";
    }
    for (const auto& cg : cgroups) {
        for (int i = 0; i < 100 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::rmdir(std::filesystem::path(cg).parent_path().c_str());  // fails while others remain
    }
}

lab::~lab() {
    // moat's own teardown first (it also removes cgroups), then anything left.
    auto down = sh(enter(_host_ns) + moat_binary() + " --state-dir " + _state_dir + " down -q", std::chrono::seconds(30));
    if (down.code != 0) {
        std::fprintf(stderr, "lab: moat down failed (%d): %s%s", down.code, down.out.c_str(), down.err.c_str());
        kill_recorded_cgroups(_state_dir);
    }
    for (const auto& ns : _namespaces) {
        sh("for p in $(ip netns pids " + ns + "); do kill -9 $p; done; ip netns del " + ns);
    }
    sh("rm -rf " + _dir);
}

static std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

result lab::in(const std::string& cmd, const std::string& ns, std::chrono::seconds timeout) {
    std::string target = ns.empty() ? _host_ns : ns;
    return sh(enter(target) + "sh -c " + quote(cmd), timeout);
}

result lab::moat(const std::string& args, std::chrono::seconds timeout) {
    return sh(enter(_host_ns) + moat_binary() + " --state-dir " + _state_dir + " " + args, timeout);
}

std::string lab::write(const std::string& name, const std::string& content) {
    std::string path = _dir + "/" + name;
    std::ofstream(path) << content;
    return path;
}

std::string lab::read_line(const std::string& addr, int port, const std::string& ns, int seconds) {
    std::string target = ns.empty() ? _host_ns : ns;
    auto r = sh(enter(target) + "timeout " + std::to_string(seconds) +
                " bash -c 'exec 3<>/dev/tcp/" + addr + "/" + std::to_string(port) + " && head -n1 <&3'");
    return r.code == 0 ? r.out : "";
}

}  // namespace moat::test
