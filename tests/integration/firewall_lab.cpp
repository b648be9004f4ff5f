#include "firewall_lab.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace moat::firewall::test {
namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

// A crashed or timed-out run cannot delete its namespaces; they carry its
// pid, so the next run removes those of pids that are gone.
void sweep_dead_runs() {
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
        auto name = e.path().filename().string();
        if (!name.starts_with("moat-fw-")) {
            continue;
        }
        long pid = std::strtol(name.c_str() + 8, nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH) {
            run("ip netns delete " + name);
        }
    }
}

std::atomic<int> counter{0};

}  // namespace

command_result run(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) {
        throw std::runtime_error("popen " + cmd);
    }
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) {
        r.out.append(buf, n);
    }
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string must(const std::string& cmd) {
    auto r = run(cmd);
    if (r.status != 0) {
        throw std::runtime_error(cmd + " failed: " + r.out);
    }
    return r.out;
}

std::string short_id() {
    return std::to_string(::getpid() % 100000) + std::to_string(counter++ % 100);
}

netns::netns() {
    static std::once_flag swept;
    std::call_once(swept, sweep_dead_runs);
    _name = "moat-fw-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    must("ip netns add " + _name);
    must("ip -n " + _name + " link set lo up");
}

netns::~netns() { run("ip netns delete " + _name); }

command_result netns::exec(const std::string& cmd) const {
    return run("ip netns exec " + _name + " sh -c " + quote(cmd));
}

std::string netns::must_exec(const std::string& cmd) const {
    return must("ip netns exec " + _name + " sh -c " + quote(cmd));
}

void netns::enter_and_run(void (*call)(void*), void* arg) const {
    std::exception_ptr failure;
    std::thread t([&] {
        try {
            sys::unique_fd fd(::open(("/run/netns/" + _name).c_str(), O_RDONLY | O_CLOEXEC));
            // setns moves only this thread, which ends right after.
            if (!fd || ::setns(fd.get(), CLONE_NEWNET) != 0) {
                throw std::runtime_error("entering " + _name + ": " + std::strerror(errno));
            }
            call(arg);
        } catch (...) {
            failure = std::current_exception();
        }
    });
    t.join();
    if (failure) {
        std::rethrow_exception(failure);
    }
}

sys::unique_fd tcp_listen(const netns& ns, int family, int port) {
    sys::unique_fd fd;
    ns.in([&] {
        fd.reset(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
            sa->sin_family = AF_INET;
            sa->sin_port = htons(static_cast<uint16_t>(port));
            len = sizeof *sa;
        } else {
            auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
            sa->sin6_family = AF_INET6;
            sa->sin6_port = htons(static_cast<uint16_t>(port));
            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            len = sizeof *sa;
        }
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), 16) != 0) {
            throw std::runtime_error("listen on port " + std::to_string(port) + ": " + std::strerror(errno));
        }
    });
    return fd;
}

namespace {

socklen_t socket_address(const std::string& addr, int port, sockaddr_storage& ss) {
    ss = {};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        return sizeof *v4;
    }
    if (::inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        return sizeof *v6;
    }
    throw std::runtime_error("bad address " + addr);
}

}  // namespace

bool tcp_connects(const netns& ns, const std::string& addr, int port, const std::string& source, int timeout_ms) {
    bool ok = false;
    ns.in([&] {
        sockaddr_storage ss;
        socklen_t len = socket_address(addr, port, ss);
        sys::unique_fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!source.empty()) {
            sockaddr_storage src;
            socklen_t src_len = socket_address(source, 0, src);
            if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), src_len) != 0) {
                throw std::runtime_error("binding " + source + ": " + std::strerror(errno));
            }
        }
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) {
            ok = true;
            return;
        }
        if (errno != EINPROGRESS) {
            return;
        }
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, timeout_ms) == 1) {
            int err = 0;
            socklen_t elen = sizeof err;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
            ok = err == 0;
        }
    });
    return ok;
}

std::string accept_peer(int listen_fd, int timeout_ms) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) {
        return "";
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    sys::unique_fd conn(::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC));
    if (!conn) {
        return "";
    }
    char buf[INET6_ADDRSTRLEN] = {};
    const void* a = ss.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
                                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
    ::inet_ntop(ss.ss_family, a, buf, sizeof buf);
    return buf;
}

}  // namespace moat::firewall::test
