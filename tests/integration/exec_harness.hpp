// Test harness for exec_test: the real moat binary run on a host
// pseudo-terminal that stands in for the operator's.
#pragma once

#include "lab.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace moat::test::exec {

using namespace std::chrono_literals;

inline std::vector<std::string> moat_argv(const lab& l, const std::vector<std::string>& args) {
    std::vector<std::string> v = {"nsenter", "--net=/run/netns/" + l.host_ns(), moat::test::moat_binary(),
                                  "--state-dir", l.state_dir()};
    v.insert(v.end(), args.begin(), args.end());
    return v;
}

inline std::string moat_cmd(const lab& l) {
    return moat::test::enter(l.host_ns()) + moat::test::moat_binary() + " --state-dir " + l.state_dir();
}

[[noreturn]] inline void exec_argv(const std::vector<std::string>& argv) {
    std::vector<char*> a;
    for (const auto& s : argv) {
        a.push_back(const_cast<char*>(s.c_str()));
    }
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
}

// A host pseudo-terminal standing in for the operator's: the test holds the
// master (the terminal emulator) and a slave (as the operator's shell would).
struct outer_terminal {
    int master = -1;
    int slave = -1;
    std::string output;  // everything read from the master

    explicit outer_terminal(unsigned short rows = 24, unsigned short cols = 80) {
        master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || ::grantpt(master) < 0 || ::unlockpt(master) < 0) {
            throw std::runtime_error("posix_openpt");
        }
        slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) {
            throw std::runtime_error("opening the pty's slave");
        }
        resize(rows, cols);
        ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
    }
    ~outer_terminal() {
        ::close(slave);
        ::close(master);
    }
    void resize(unsigned short rows, unsigned short cols) const {
        winsize ws{rows, cols, 0, 0};
        ::ioctl(master, TIOCSWINSZ, &ws);
    }
    termios modes() const {
        termios t{};
        ::tcgetattr(slave, &t);
        return t;
    }
    void type(const std::string& s) const { EXPECT_EQ(::write(master, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
    void read_available() {
        char buf[4096];
        ssize_t n;
        while ((n = ::read(master, buf, sizeof buf)) > 0) {
            output.append(buf, static_cast<size_t>(n));
        }
    }
    void read_for(std::chrono::milliseconds d) {
        auto end = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < end) {
            pollfd p{master, POLLIN, 0};
            ::poll(&p, 1, 20);
            read_available();
        }
    }
    bool read_until(const std::string& needle, std::chrono::milliseconds d) {
        auto end = std::chrono::steady_clock::now() + d;
        while (output.find(needle) == std::string::npos && std::chrono::steady_clock::now() < end) {
            read_for(20ms);
        }
        return output.find(needle) != std::string::npos;
    }
    // The terminal's input queue: what the operator's shell would read next.
    // Non-canonical with VMIN = VTIME = 0 makes a partial line readable too,
    // and a read return at once when there is nothing.
    std::string pending_input() const {
        termios saved = modes(), t = saved;
        t.c_lflag &= ~static_cast<tcflag_t>(ICANON);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        ::tcsetattr(slave, TCSANOW, &t);
        std::string in;
        char buf[256];
        ssize_t n;
        while ((n = ::read(slave, buf, sizeof buf)) > 0) {
            in.append(buf, static_cast<size_t>(n));
        }
        ::tcsetattr(slave, TCSANOW, &saved);
        return in;
    }
};

inline bool same_modes(const termios& a, const termios& b) {
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag &&
           std::memcmp(a.c_cc, b.c_cc, sizeof a.c_cc) == 0;
}

// Runs argv as the session leader of `t` (its controlling terminal) with the
// terminal as stdout and stderr, and as stdin unless tty_stdin is false
// (then /dev/null). `fd7`, when given, is opened at descriptor 7.
inline pid_t start_on(const outer_terminal& t, const std::vector<std::string>& argv, bool tty_stdin = true,
               const std::string& fd7 = "") {
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        ::ioctl(t.slave, TIOCSCTTY, 0);
        int in = tty_stdin ? t.slave : ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        ::dup2(t.slave, 1);
        ::dup2(t.slave, 2);
        if (!fd7.empty()) {
            ::dup2(::open(fd7.c_str(), O_RDONLY | O_DIRECTORY), 7);
        }
        exec_argv(argv);
    }
    return pid;
}

// Waits for pid while reading the terminal; its exit status, or -1 after
// killing it at the timeout.
inline int wait_reading(outer_terminal& t, pid_t pid, std::chrono::seconds timeout = 30s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > end) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        t.read_for(20ms);
    }
    t.read_available();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline int wait_exit(pid_t pid, std::chrono::seconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > end) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(20ms);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace moat::test::exec
