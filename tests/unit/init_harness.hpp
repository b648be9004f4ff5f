// Runs moat::init::run in a child process for tests: either a child
// subreaper (so orphans of the services come back to it, as they would to a
// PID 1) or, when root, the real thing — PID 1 of a new PID namespace.
#pragma once

#include "init/init.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace moat::test {

using namespace std::chrono_literals;

class init_harness {
public:
    init_harness() {
        char tmpl[] = "/tmp/moat-init-test-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            throw std::runtime_error("mkdtemp failed");
        }
        _dir = tmpl;
    }
    ~init_harness() {
        if (_pid > 0) {
            ::kill(_pid, SIGTERM);
            if (wait(3000ms) == -1) {
                ::kill(_pid, SIGKILL);
                ::waitpid(_pid, nullptr, 0);
            }
        }
        sys::remove_tree(_dir);
    }

    const std::string& dir() const { return _dir; }
    pid_t pid() const { return _pid; }

    // Starts init::run(s) in a child; in a new PID namespace when asked.
    void start(init::spec s, std::function<int()> prepare = {}, bool pid_namespace = false) {
        pid_t pid = pid_namespace ? static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0))
                                  : ::fork();
        ASSERT_GE(pid, 0) << "fork/clone: " << std::strerror(errno);
        if (pid == 0) {
            if (!pid_namespace) {
                ::prctl(PR_SET_CHILD_SUBREAPER, 1);
            }
            int rc = 250;
            try {
                int fd = ::open(_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                s.log_dir_fd = fd;
                rc = init::run(s, std::move(prepare));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "init::run threw: %s\n", e.what());
            }
            ::_exit(rc);
        }
        _pid = pid;
    }

    // The init's exit code (128 + N if it was killed), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout) {
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, _pid, 0));
        if (pidfd >= 0) {
            pollfd p{pidfd, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
            ::close(pidfd);
            if (rc == 0) {
                return -1;
            }
        }
        int status = 0;
        if (::waitpid(_pid, &status, 0) != _pid) {
            return -1;
        }
        _pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    void signal(int sig) { ::kill(_pid, sig); }

    std::string read(const std::string& file) const {
        try {
            return sys::read_file(_dir + "/" + file);
        } catch (const std::exception&) {
            return "";
        }
    }

    // A log without its timestamps ("2026-11-29T01:02:03.456Z " per line);
    // a line without one comes back as "<no timestamp>...".
    std::string text(const std::string& file) const {
        std::string out;
        auto all = read(file);
        for (std::size_t at = 0; at < all.size();) {
            std::size_t nl = all.find('\n', at);
            std::string line = all.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
            at = nl == std::string::npos ? all.size() : nl + 1;
            bool stamped = line.size() >= 25 && line[4] == '-' && line[10] == 'T' && line[19] == '.' &&
                           line[23] == 'Z' && line[24] == ' ';
            out += (stamped ? line.substr(25) : "<no timestamp>" + line) + "\n";
        }
        return out;
    }

    nlohmann::json status() const {
        auto text = read("services.json");
        return text.empty() ? nlohmann::json() : nlohmann::json::parse(text);
    }
    nlohmann::json service(const std::string& name) const {
        auto st = status();
        if (st.is_null() || !st["services"].contains(name)) {
            return nlohmann::json::object();
        }
        return st["services"][name];
    }

    // Test-side polling is fine: it only bounds how long we wait to look.
    static bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 5000ms) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            if (cond()) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return cond();
    }

private:
    std::string _dir;
    pid_t _pid = -1;
};

inline init::service sh_service(const std::string& name, const std::string& script,
                                config::restart_policy restart = config::restart_policy::no) {
    init::service s;
    s.name = name;
    s.argv = {"/bin/sh", "-c", script};
    s.restart = restart;
    return s;
}

}  // namespace moat::test
