// Shared by the sandbox's root tests: run a body in a forked child (the
// privilege changes are irreversible) and read what it reports.
#pragma once

#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>

namespace moat::sandbox::test {

struct child_result {
    int status = 0;
    std::string report;
};

inline child_result in_child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) {
        return {-1, "pipe failed"};
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string r;
        try {
            r = body();
        } catch (const std::exception& e) {
            r = std::string("exception: ") + e.what();
        }
        [[maybe_unused]] auto n = ::write(fds[1], r.data(), r.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    child_result out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
        out.report.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    ::waitpid(pid, &out.status, 0);
    return out;
}

inline std::string status_field(const std::string& key) {
    std::istringstream in(sys::read_file("/proc/self/status"));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + ":", 0) == 0) {
            auto v = line.substr(key.size() + 1);
            return v.substr(v.find_first_not_of(" \t"));
        }
    }
    return "";
}

inline std::string expect_errno(const char* what, long rc, int want) {
    if (rc == -1 && errno == want) {
        return "";
    }
    return std::string(what) + " returned " + std::to_string(rc) + " errno " + std::strerror(errno) + "; ";
}

class SandboxPrivileges : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
    }
};

}  // namespace moat::sandbox::test
