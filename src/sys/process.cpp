#include "sys/process.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

namespace moat::sys {

namespace {

struct stat_fields {
    char state = '?';
    std::uint64_t start_time = 0;
};

// A process that is gone is the common answer (every `run --rm` asks after
// its init exited), so it is not an exception: the first one thrown in a
// process costs about 0.3 ms of unwinder set-up and page faults.
std::optional<stat_fields> read_stat(pid_t pid) {
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    unique_fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return std::nullopt;
    }
    char buf[1024];  // starttime (field 22) ends within ~500 bytes
    ssize_t n;
    do {
        n = ::read(fd.get(), buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return std::nullopt;
    }
    std::string_view text(buf, static_cast<std::size_t>(n));
    // comm may contain spaces and parentheses: fields restart after the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) {
        return std::nullopt;
    }
    stat_fields f;
    f.state = text[close + 2];
    // Field 3 is the state; field 22 is starttime: 19 more fields after it.
    size_t pos = close + 2;
    for (int field = 3; field < 22; ++field) {
        pos = text.find(' ', pos);
        if (pos == std::string::npos) {
            return std::nullopt;
        }
        ++pos;
    }
    auto end = text.find(' ', pos);
    auto digits = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), f.start_time);
    if (ec != std::errc() || ptr == digits.data()) {
        return std::nullopt;
    }
    return f;
}

}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
    auto f = read_stat(pid);
    if (!f) {
        return std::nullopt;
    }
    return f->start_time;
}

bool process_alive(const process_id& p) {
    if (p.pid <= 0) {
        return false;
    }
    auto f = read_stat(p.pid);
    return f && f->start_time == p.start_time && f->state != 'Z' && f->state != 'X';
}

bool wait_gone(const process_id& p, std::chrono::milliseconds timeout) {
    if (!process_alive(p)) {
        return true;
    }
    unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, p.pid, 0)));
    if (pidfd && !process_alive(p)) {
        return true;  // the PID was reused between the check and pidfd_open
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process_alive(p)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        if (pidfd) {
            pollfd pfd{pidfd.get(), POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 100)));
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    return true;
}

std::string own_executable() {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        throw errno_error("finding moat's own binary");
    }
    return std::string(exe, static_cast<size_t>(n));
}

}  // namespace moat::sys
