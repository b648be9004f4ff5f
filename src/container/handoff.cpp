#include "container/handoff.hpp"

#include "sys/error.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace moat::container::handoff {

namespace {

ssize_t retry(ssize_t (*fn)(int, msghdr*, int), int sock, msghdr* m, int flags) {
    ssize_t n;
    do {
        n = fn(sock, m, flags);
    } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t send_fn(int s, msghdr* m, int f) { return ::sendmsg(s, m, f); }
ssize_t recv_fn(int s, msghdr* m, int f) { return ::recvmsg(s, m, f); }

// One sendmsg of `data` with `fds` attached; returns the bytes sent.
std::size_t send_with(int sock, const char* data, std::size_t size, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(data), size};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    std::vector<char> control;
    if (!fds.empty()) {
        control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
        m.msg_control = control.data();
        m.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = retry(send_fn, sock, &m, MSG_NOSIGNAL);
    if (n <= 0) {
        throw sys::errno_error("sending the container its specification");
    }
    return static_cast<std::size_t>(n);
}

// All of `data`, the descriptors riding on its first byte.
void send_all(int sock, const std::string& data, const std::vector<int>& fds) {
    std::size_t sent = send_with(sock, data.data(), data.size(), fds);
    while (sent < data.size()) {
        sent += send_with(sock, data.data() + sent, data.size() - sent, {});
    }
}

void collect_fds(msghdr& m, std::vector<sys::unique_fd>& out) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            out.emplace_back(fd);
        }
    }
}

// One recvmsg into `buf`, its descriptors appended to `fds`; 0 at EOF.
ssize_t receive_some(int sock, char* buf, std::size_t size, std::vector<char>& control, std::vector<sys::unique_fd>& fds) {
    iovec iov{buf, size};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    ssize_t n = retry(recv_fn, sock, &m, MSG_CMSG_CLOEXEC);
    if (n >= 0) {
        collect_fds(m, fds);
        if (m.msg_flags & MSG_CTRUNC) {
            throw moat::error("descriptors from the other side were cut off");
        }
    }
    return n;
}

}  // namespace

void send_spec(int sock, const std::string& json, const std::vector<int>& fds) {
    if (fds.size() > max_fds) {
        throw moat::error("a container needs " + std::to_string(fds.size()) + " descriptors for its root; at most " +
                          std::to_string(max_fds) + " can be passed (too many bind mounts?)");
    }
    send_all(sock, json, fds);
    if (::shutdown(sock, SHUT_WR) != 0) {
        throw sys::errno_error("sending the container its specification");
    }
}

spec_message receive_spec(int sock) {
    spec_message out;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds));
    char buf[65536];
    for (;;) {
        ssize_t n = receive_some(sock, buf, sizeof buf, control, out.fds);
        if (n < 0) {
            throw sys::errno_error("reading the specification");
        }
        if (n == 0) {
            return out;
        }
        out.json.append(buf, static_cast<std::size_t>(n));
    }
}

void send_answer(int sock, const std::string& line, int fd) noexcept {
    try {
        send_all(sock, line + "\n", fd >= 0 ? std::vector<int>{fd} : std::vector<int>{});
    } catch (...) {
        // The host side is gone: nobody to tell.
    }
}

std::pair<std::string, sys::unique_fd> receive_answer(int sock) {
    std::string line;
    std::vector<sys::unique_fd> fds;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * 4));
    while (line.size() < 4096 && (line.empty() || line.back() != '\n')) {
        char c;
        if (receive_some(sock, &c, 1, control, fds) <= 0) {
            break;
        }
        line.push_back(c);
    }
    if (!line.empty() && line.back() == '\n') {
        line.pop_back();
    }
    sys::unique_fd fd;
    if (!fds.empty()) {
        fd = std::move(fds.front());
    }
    return {line, std::move(fd)};
}

}  // namespace moat::container::handoff
