#include "container/handoff.hpp"

#include "sys/error.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

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
    std::string framed = json;
    framed.push_back('\0');
    send_all(sock, framed, fds);
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
            throw moat::error("the specification ended early");
        }
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        auto end = chunk.find('\0');
        if (end == std::string_view::npos) {
            out.json.append(chunk);
            continue;
        }
        out.json.append(chunk.substr(0, end));
        // The host side sends nothing but the go after the spec, and it
        // may already be here.
        auto rest = chunk.substr(end + 1);
        if (rest.size() > 1 || (rest.size() == 1 && rest[0] != 'g')) {
            throw moat::error("unexpected bytes after the specification");
        }
        out.go = rest.size() == 1;
        return out;
    }
}

void send_go(int sock) noexcept {
    ssize_t n;
    do {
        n = ::send(sock, "g", 1, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    ::shutdown(sock, SHUT_WR);
}

bool receive_go(int sock) noexcept {
    char c = 0;
    ssize_t n;
    do {
        n = ::recv(sock, &c, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == 1 && c == 'g';
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
