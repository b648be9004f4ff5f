// bench/vpn_probe.cpp — bench/vpn.sh's probe: when does a TCP connection
// through the tunnel first complete? Compiled by vpn.sh; run inside moat's
// container and in the by-hand namespace alike.
//
//   vpn_probe up|service|restart HOST PORT
//   vpn_probe stamp FILE COMMAND [ARG...]
//
// Prints "start T" once it runs, then opens a new non-blocking connection
// every 10 ms (earlier ones stay pending, at most 200) and prints "ok T N"
// when the first one completes (N: attempts refused or failed before it),
// or "timeout". "restart": "ready" once a connection completes, "down T" at
// the first one that fails (a 50 ms limit each), then "ok T N" at the first
// completed one after that. "service" stays after its line (a container's
// service must not end). T is CLOCK_REALTIME in seconds with microseconds,
// the clock the script reads on the host. "stamp" writes that clock to
// FILE and executes COMMAND in its place: the script's clock starts at the
// exec of `moat up` or of the daemon by hand, not at the fork of its own
// shell that leads there (15-20 ms on the benchmark machine).
//
// It was a Python script: Python took 35-100 ms to start on the benchmark
// machine, longer than the tunnels take to connect, so "first packet" was
// mostly the probe's own start — after moat released the container on one
// side, beside the daemon on the other.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <string>

namespace {

sockaddr_in target{};

double wall() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double mono() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

void say(const char* fmt, double t) {
    std::printf(fmt, t);
    std::fflush(stdout);
}

int connecting() {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        std::perror("socket");
        std::exit(2);
    }
    if (connect(s, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0) {
        return -s - 2;  // connected at once (a local peer): the caller sees it as done
    }
    if (errno == EINPROGRESS) {
        return s;
    }
    close(s);
    return -1;
}

// One blocking attempt within `limit` seconds.
bool once(double limit) {
    int s = connecting();
    if (s < -1) {
        close(-s - 2);
        return true;
    }
    if (s < 0) {
        return false;
    }
    pollfd p{s, POLLOUT, 0};
    bool ok = false;
    if (poll(&p, 1, static_cast<int>(limit * 1000)) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
    }
    close(s);
    return ok;
}

// The wall time of the first connection to complete within `limit` seconds.
std::optional<double> first_success(double limit, int& fails) {
    fails = 0;
    std::deque<int> pending;
    const double end = mono() + limit;
    double next = 0;
    std::optional<double> done;
    while (!done && mono() < end) {
        if (mono() >= next) {
            int s = connecting();
            if (s < -1) {
                close(-s - 2);
                done = wall();
                break;
            }
            if (s < 0) {
                ++fails;
            } else {
                pending.push_back(s);
                if (pending.size() > 200) {
                    close(pending.front());
                    pending.pop_front();
                }
            }
            next = mono() + 0.010;
        }
        pollfd fds[201];
        std::size_t n = 0;
        for (int s : pending) {
            fds[n++] = {s, POLLOUT, 0};
        }
        int wait_ms = static_cast<int>((next - mono()) * 1000) + 1;
        if (poll(fds, n, wait_ms < 0 ? 0 : wait_ms) <= 0) {
            continue;
        }
        const double t = wall();
        for (std::size_t i = 0; i < n; ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
            close(fds[i].fd);
            std::erase(pending, fds[i].fd);
            if (err == 0) {
                done = t;
                break;
            }
            ++fails;
        }
    }
    for (int s : pending) {
        close(s);
    }
    return done;
}

}  // namespace

// The wall time into `file`, then `argv[0]` in this process's place.
int stamp_and_exec(const char* file, char** argv) {
    std::FILE* f = std::fopen(file, "w");
    if (!f || std::fprintf(f, "%.6f\n", wall()) < 0 || std::fclose(f) != 0) {
        std::perror(file);
        return 2;
    }
    execvp(argv[0], argv);
    std::perror(argv[0]);
    return 127;
}

int main(int argc, char** argv) {
    if (argc >= 4 && std::strcmp(argv[1], "stamp") == 0) {
        return stamp_and_exec(argv[2], argv + 3);
    }
    if (argc != 4) {
        std::fprintf(stderr, "usage: vpn_probe up|service|restart HOST PORT\n"
                             "       vpn_probe stamp FILE COMMAND [ARG...]\n");
        return 2;
    }
    const std::string mode = argv[1];
    target.sin_family = AF_INET;
    target.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
        std::fprintf(stderr, "vpn_probe: not an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    say("start %.6f\n", wall());
    int fails = 0;
    if (mode == "restart") {
        if (!first_success(10, fails)) {
            std::puts("timeout before");
            return 1;
        }
        std::puts("ready");
        std::fflush(stdout);
        const double end = mono() + 20;
        while (once(0.05)) {
            if (mono() > end) {
                std::puts("never down");
                return 1;
            }
            usleep(10000);
        }
        say("down %.6f\n", wall());
    }
    auto t = first_success(30, fails);
    if (t) {
        std::printf("ok %.6f %d\n", *t, fails);
    } else {
        std::puts("timeout");
    }
    std::fflush(stdout);
    while (mode == "service") {
        pause();
    }
    return t ? 0 : 1;
}
