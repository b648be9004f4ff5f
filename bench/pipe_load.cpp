// Load generator and target servers for bench/pipe.sh (built by the script).
//   pipe_load echo PORT            echo server (epoll)
//   pipe_load sink PORT            reads and discards; closes after EOF
//   pipe_load bulk PORT BYTES      sends BYTES, half-closes, waits for EOF; prints MiB/s
//   pipe_load conns PORT N K       N connections, K in flight: connect, 16 bytes
//                                  there and back, close; prints rate p50 p99 (ms),
//                                  failures and its own CPU seconds
//   pipe_load idle PORT N          opens N connections, one byte round trip each,
//                                  prints "ready", then holds them until stdin closes
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using clk = std::chrono::steady_clock;

static sockaddr_in addr(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int serve(int port, bool echo) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = addr(port);
    if (bind(l, (sockaddr*)&a, sizeof a) || listen(l, 4096)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = l;
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char buf[1 << 18];
    for (;;) {
        epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event cev{EPOLLIN, {}};
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                // Replies are tiny in the echo tests; a blocking-ish write is fine.
                if (echo) for (ssize_t off = 0; off < r;) { ssize_t w = write(fd, buf + off, r - off); if (w > 0) off += w; else if (errno != EAGAIN) break; }
            } else if (r == 0 || errno != EAGAIN) {
                close(fd);
            }
        }
    }
}

static int bulk(int port, long long bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = addr(port);
    auto t0 = clk::now();
    if (connect(fd, (sockaddr*)&a, sizeof a)) { perror("connect"); return 1; }
    static char buf[1 << 18];
    memset(buf, 0x5a, sizeof buf);
    for (long long sent = 0; sent < bytes;) {
        ssize_t w = write(fd, buf, std::min<long long>(sizeof buf, bytes - sent));
        if (w <= 0) { perror("write"); return 1; }
        sent += w;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0) {}
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    printf("%.1f\n", bytes / s / (1 << 20));
    return 0;
}

struct conn { int fd = -1; clk::time_point start; int got = 0; bool sent = false; };

static int conns(int port, int total, int inflight) {
    std::vector<double> lat;
    std::vector<conn> slots(inflight);
    int started = 0, done = 0, failed = 0;
    sockaddr_in a = addr(port);
    char msg[16] = "0123456789abcde", buf[64];
    auto t0 = clk::now();
    auto start = [&](conn& c) {
        c = conn{};
        if (started >= total) return;
        ++started;
        c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        c.start = clk::now();
        connect(c.fd, (sockaddr*)&a, sizeof a);
    };
    for (auto& c : slots) start(c);
    std::vector<pollfd> p(inflight);
    while (done + failed < total) {
        for (int i = 0; i < inflight; ++i) p[i] = {slots[i].fd, short(slots[i].sent ? POLLIN : POLLOUT), 0};
        poll(p.data(), inflight, 1000);
        for (int i = 0; i < inflight; ++i) {
            conn& c = slots[i];
            if (c.fd < 0 || !p[i].revents) continue;
            if (!c.sent) {
                if (write(c.fd, msg, 16) == 16) c.sent = true;
                else { close(c.fd); ++failed; start(c); }
                continue;
            }
            ssize_t r = read(c.fd, buf, sizeof buf);
            if (r > 0 && (c.got += r) >= 16) {
                lat.push_back(std::chrono::duration<double, std::milli>(clk::now() - c.start).count());
                close(c.fd);
                ++done;
                start(c);
            } else if (r <= 0 && errno != EAGAIN) {
                close(c.fd);
                ++failed;
                start(c);
            }
        }
    }
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, size_t(q * lat.size()))]; };
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto secs = [](timeval t) { return double(t.tv_sec) + t.tv_usec / 1e6; };
    printf("%.0f %.2f %.2f %d %.3f\n", done / s, pct(0.5), pct(0.99), failed, secs(ru.ru_utime) + secs(ru.ru_stime));
    return 0;
}

static int idle(int port, int n) {
    std::vector<int> fds;
    sockaddr_in a = addr(port);
    char b = 'x';
    for (int i = 0; i < n; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (sockaddr*)&a, sizeof a) || write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1) {
            fprintf(stderr, "idle connection %d failed\n", i);
            return 1;
        }
        fds.push_back(fd);
    }
    printf("ready\n");
    fflush(stdout);
    while (read(0, &b, 1) > 0) {}
    return 0;
}

int main(int argc, char** argv) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    std::string m = argc > 2 ? argv[1] : "";
    int port = argc > 2 ? atoi(argv[2]) : 0;
    if (m == "echo" || m == "sink") return serve(port, m == "echo");
    if (m == "bulk" && argc == 4) return bulk(port, atoll(argv[3]));
    if (m == "conns" && argc == 5) return conns(port, atoi(argv[3]), atoi(argv[4]));
    if (m == "idle" && argc == 4) return idle(port, atoi(argv[3]));
    fprintf(stderr, "see the header of pipe_load.cpp\n");
    return 2;
}
