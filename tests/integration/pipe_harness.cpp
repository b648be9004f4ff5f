#include "pipe_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

namespace pipe_test {

namespace {

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int listen_loopback(int* port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 1024) != 0) {
        throw std::runtime_error("listen failed");
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
}

int connect_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

temp_dir::temp_dir() {
    char tmpl[] = "/tmp/moat-pipe-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
        throw std::runtime_error("mkdtemp failed");
    }
    path = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

int free_port() {
    int port = 0;
    close(listen_loopback(&port));
    return port;
}

bool wait_listening(int port, std::chrono::milliseconds timeout) {
    char want[16];
    std::snprintf(want, sizeof want, ":%04X", port);
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
            std::ifstream in(table);
            std::string line;
            while (std::getline(in, line)) {
                std::istringstream ls(line);
                std::string sl, local, remote, state;
                ls >> sl >> local >> remote >> state;
                if (state == "0A" && local.size() > 5 && local.substr(local.size() - 5) == want) {
                    return true;
                }
            }
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

std::string make_data(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = char(rng());
    return s;
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

process::process(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    _pid = fork();
    if (_pid == 0) {
        if (stdin_fd >= 0) dup2(stdin_fd, 0);
        if (stdout_fd >= 0) dup2(stdout_fd, 1);
        execv(args[0], args.data());
        _exit(127);
    }
}

process& process::operator=(process&& o) noexcept {
    stop();
    _pid = std::exchange(o._pid, -1);
    return *this;
}

void process::signal(int sig) const {
    if (_pid > 0) kill(_pid, sig);
}

int process::wait(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (_pid > 0) {
        int st = 0;
        pid_t r = waitpid(_pid, &st, WNOHANG);
        if (r == _pid) {
            _pid = -1;
            return st;
        }
        if (std::chrono::steady_clock::now() >= end) return -1;
        std::this_thread::sleep_for(5ms);
    }
    return -1;
}

void process::stop() {
    if (_pid <= 0) return;
    kill(_pid, SIGTERM);
    if (wait(2s) == -1 && _pid > 0) {
        kill(_pid, SIGKILL);
        waitpid(_pid, nullptr, 0);
        _pid = -1;
    }
}

std::string driver() { return MOAT_PIPE_DRIVER; }

process start_pipe(const std::string& impl, bool encrypt, int src_port, const std::string& target,
                   const std::string& key, const std::vector<std::string>& extra) {
    std::vector<std::string> argv;
    if (impl == "moat") {
        argv = {driver(), "pipe"};
    } else {
        argv = {"/usr/bin/spiped"};
    }
    argv.insert(argv.end(), {encrypt ? "-e" : "-d", "-s", "127.0.0.1:" + std::to_string(src_port), "-t",
                             target, "-k", key, "-F"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    process p(argv);
    if (!wait_listening(src_port)) {
        throw std::runtime_error(impl + " did not start listening");
    }
    return p;
}

echo_server::echo_server() : _wake(eventfd(0, EFD_CLOEXEC)) {
    _listen = listen_loopback(&_port);
    _thread = std::thread([this] { run(); });
}

echo_server::~echo_server() {
    std::uint64_t one = 1;
    (void)write(_wake, &one, sizeof one);
    _thread.join();
    close(_listen);
    close(_wake);
}

std::vector<std::string> echo_server::finished_payloads() {
    std::lock_guard lock(_mu);
    return _payloads;
}

void echo_server::run() {
    struct conn {
        std::string data;
        std::size_t sent = 0;
        bool replying = false;
    };
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = _wake;
    epoll_ctl(ep, EPOLL_CTL_ADD, _wake, &ev);
    ev.data.fd = _listen;
    epoll_ctl(ep, EPOLL_CTL_ADD, _listen, &ev);
    std::map<int, conn> conns;
    char buf[65536];
    for (;;) {
        epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == _wake) {
                for (auto& [cfd, c] : conns) close(cfd);
                close(ep);
                return;
            }
            if (fd == _listen) {
                int c;
                while ((c = accept4(_listen, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    ++_conns;
                    conns[c];
                    epoll_event cev{EPOLLIN, {}};
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            conn& c = conns[fd];
            bool done = false;
            if (!c.replying) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    c.data.append(buf, std::size_t(r));
                    _bytes += std::size_t(r);
                } else if (r == 0 || errno != EAGAIN) {
                    {
                        std::lock_guard lock(_mu);
                        _payloads.push_back(c.data);
                    }
                    c.replying = true;
                    epoll_event cev{EPOLLOUT, {}};
                    cev.data.fd = fd;
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                    done = r != 0;
                }
            } else {
                ssize_t w = send(fd, c.data.data() + c.sent, c.data.size() - c.sent, MSG_NOSIGNAL);
                if (w > 0) c.sent += std::size_t(w);
                done = (w < 0 && errno != EAGAIN) || c.sent == c.data.size();
            }
            if (done) {
                close(fd);
                conns.erase(fd);
            }
        }
    }
}

flip_proxy::flip_proxy(int target_port, std::size_t offset, bool upstream)
    : _wake(eventfd(0, EFD_CLOEXEC)), _target(target_port), _offset(offset), _upstream(upstream) {
    _listen = listen_loopback(&_port);
    _thread = std::thread([this] { run(); });
}

flip_proxy::~flip_proxy() {
    std::uint64_t one = 1;
    (void)write(_wake, &one, sizeof one);
    _thread.join();
    close(_listen);
    close(_wake);
}

void flip_proxy::run() {
    for (;;) {
        pollfd a[2] = {{_wake, POLLIN, 0}, {_listen, POLLIN, 0}};
        poll(a, 2, -1);
        if (a[0].revents) return;
        int c = accept4(_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        int s = connect_loopback(_target);
        int fds[2] = {c, s};  // direction 0: c -> s (upstream)
        std::size_t count[2] = {0, 0};
        bool eof[2] = {false, false};
        char buf[65536];
        while (s >= 0 && !(eof[0] && eof[1])) {
            pollfd p[3] = {{_wake, POLLIN, 0}, {c, short(eof[0] ? 0 : POLLIN), 0}, {s, short(eof[1] ? 0 : POLLIN), 0}};
            poll(p, 3, -1);
            if (p[0].revents) {
                close(c);
                close(s);
                return;
            }
            for (int d = 0; d < 2; ++d) {
                if (!p[d + 1].revents) continue;
                ssize_t r = read(fds[d], buf, sizeof buf);
                if (r <= 0) {
                    eof[d] = true;
                    shutdown(fds[1 - d], SHUT_WR);
                    continue;
                }
                if ((d == 0) == _upstream && _offset >= count[d] && _offset < count[d] + std::size_t(r)) {
                    buf[_offset - count[d]] ^= 0x10;
                }
                count[d] += std::size_t(r);
                if (send(fds[1 - d], buf, std::size_t(r), MSG_NOSIGNAL) != r) eof[0] = eof[1] = true;
            }
        }
        close(c);
        if (s >= 0) close(s);
    }
}

reply roundtrip(int port, const std::string& data, std::chrono::milliseconds timeout) {
    reply out;
    int fd = connect_loopback(port);
    if (fd < 0) {
        out.eof = true;
        return out;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    std::size_t sent = 0;
    bool shut = false;
    auto end = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    while (std::chrono::steady_clock::now() < end) {
        if (sent == data.size() && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        pollfd p{fd, short(POLLIN | (shut ? 0 : POLLOUT)), 0};
        poll(&p, 1, 50);
        if (p.revents & POLLOUT) {
            ssize_t w = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (w > 0) sent += std::size_t(w);
            else if (errno != EAGAIN) shut = true;  // the pipe dropped us
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                out.data.append(buf, std::size_t(r));
            } else if (r == 0 || errno != EAGAIN) {
                out.eof = true;
                break;
            }
        }
    }
    close(fd);
    return out;
}

}  // namespace pipe_test
