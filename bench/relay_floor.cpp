// The floor for bench/pipe.sh: a plain TCP relay with no handshake and no
// crypto, built the way moat pipe is (one epoll loop, non-blocking sockets,
// TCP_NODELAY, 256 KiB reads, half-close passed on). A pair of these in
// place of an -e/-d pair measures what relaying alone costs on this machine
// (accept, connect, the kernel's TCP work, the copies). A spiped-compatible
// relay does all of that and the protocol and crypto on top, so "floor /
// spiped" bounds the ratio such an implementation can reach in the same
// run (short of batching the system calls themselves, e.g. io_uring).
//
//   relay_floor LISTEN_PORT TARGET_PORT     (127.0.0.1 both)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// One direction: bytes read from `src` and not yet written to `dst`.
struct flow {
    int src, dst;
    std::vector<char> pending;
    bool eof = false, done = false;
};

struct conn {
    int a, b;  // accepted client, connected target
    flow up{a, b}, down{b, a};
};

char buf[256 * 1024];

// Moves what it can; false when the connection failed.
bool pump(flow& f, bool until_eagain) {
    if (!f.pending.empty()) {
        ssize_t w = send(f.dst, f.pending.data(), f.pending.size(), MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN;
        f.pending.erase(f.pending.begin(), f.pending.begin() + w);
        if (!f.pending.empty()) return true;
        until_eagain = true;  // edges that came while blocked were not acted on
    }
    while (!f.eof) {
        ssize_t r = read(f.src, buf, sizeof buf);
        if (r < 0) return errno == EAGAIN;
        if (r == 0) {
            f.eof = true;
            break;
        }
        ssize_t w = send(f.dst, buf, size_t(r), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) return false;
        if (w < r) {
            f.pending.assign(buf + (w < 0 ? 0 : w), buf + r);
            return true;
        }
        if (size_t(r) < sizeof buf && !until_eagain) return true;  // drained; a pending EOF is flagged by RDHUP
    }
    if (f.eof && f.pending.empty() && !f.done) {
        f.done = true;
        shutdown(f.dst, SHUT_WR);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: relay_floor LISTEN_PORT TARGET_PORT\n");
        return 2;
    }
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
    sockaddr_in la = loopback(atoi(argv[1])), ta = loopback(atoi(argv[2]));
    if (bind(l, (sockaddr*)&la, sizeof la) || listen(l, 4096)) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    epoll_event ev{EPOLLIN, {}};
    ev.data.ptr = nullptr;
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    std::vector<conn*> dead;
    for (;;) {
        epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<conn*>(evs[i].data.ptr);
            if (!c) {
                int a;
                while ((a = accept4(l, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
                    int b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (connect(b, (sockaddr*)&ta, sizeof ta) < 0 && errno != EINPROGRESS) {
                        close(a);
                        close(b);
                        continue;
                    }
                    c = new conn{a, b};
                    for (int fd : {a, b}) {
                        epoll_event cev{EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, {}};
                        cev.data.ptr = c;
                        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                    }
                }
                continue;
            }
            if (c->a < 0) continue;  // closed earlier in this batch
            bool hup = evs[i].events & (EPOLLRDHUP | EPOLLHUP);
            bool ok = !(evs[i].events & EPOLLERR) && pump(c->up, hup) && pump(c->down, hup);
            if (!ok || (c->up.done && c->down.done)) {
                close(c->a);
                close(c->b);
                c->a = c->b = -1;
                dead.push_back(c);  // later events of this batch may still name it
            }
        }
        for (conn* c : dead) delete c;
        dead.clear();
    }
}
