// Test lab for the netlink tests (LAB.md): throw-away network namespaces
// named moat-nl-<pid>-<n>, created with `ip netns add` and always deleted,
// plus `ip -j` queries inside them as an independent view of kernel state.
// The root network namespace is never modified.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "netlink/netns.hpp"
#include "sys/unique_fd.hpp"

namespace moat::netlink::test {

struct command_result {
    int status = -1;
    std::string out;
};

inline command_result run(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) {
        throw std::runtime_error("popen " + cmd);
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        r.out.append(buf, n);
    }
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

inline std::string must(const std::string& cmd) {
    auto r = run(cmd);
    if (r.status != 0) {
        throw std::runtime_error(cmd + " failed: " + r.out);
    }
    return r.out;
}

class lab_ns {
public:
    lab_ns() {
        static int counter = 0;
        if (counter == 0) {
            sweep_dead_runs();
        }
        _name = "moat-nl-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        must("ip netns add " + _name);
        _fd = open_netns("/run/netns/" + _name);
    }
    ~lab_ns() {
        _fd.reset();
        run("ip netns delete " + _name);
    }
    lab_ns(const lab_ns&) = delete;
    lab_ns& operator=(const lab_ns&) = delete;

    const std::string& name() const { return _name; }
    int fd() const { return _fd.get(); }

    // `ip -n <ns> -j <args>` parsed.
    nlohmann::json ip(const std::string& args) const {
        auto out = must("ip -n " + _name + " -j " + args);
        return out.empty() ? nlohmann::json::array() : nlohmann::json::parse(out);
    }
    // The entry of `ip -j [-d] link` for `ifname`, or null.
    nlohmann::json link(const std::string& ifname) const {
        for (auto& l : ip("-d link show")) {
            if (l.value("ifname", "") == ifname) {
                return l;
            }
        }
        return nullptr;
    }
    // Runs `fn` on a thread that has entered this namespace.
    void in(const std::function<void()>& fn) const {
        std::exception_ptr failure;
        std::thread t([&] {
            try {
                netns_guard g(fd());
                fn();
            } catch (...) {
                failure = std::current_exception();
            }
        });
        t.join();
        if (failure) {
            std::rethrow_exception(failure);
        }
    }

private:
    // A test that crashed (or was killed on timeout) cannot run destructors;
    // its namespaces carry its pid, so the next run removes those of pids
    // that no longer exist.
    static void sweep_dead_runs() {
        std::error_code ec;
        for (auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
            auto name = e.path().filename().string();
            if (!name.starts_with("moat-nl-")) {
                continue;
            }
            auto dash = name.find('-', 8);
            long pid = std::strtol(name.substr(8, dash - 8).c_str(), nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH) {
                run("ip netns delete " + name);
            }
        }
    }

    std::string _name;
    sys::unique_fd _fd;
};

inline bool has_flag(const nlohmann::json& link, const std::string& flag) {
    for (auto& f : link.value("flags", nlohmann::json::array())) {
        if (f == flag) {
            return true;
        }
    }
    return false;
}

}  // namespace moat::netlink::test
