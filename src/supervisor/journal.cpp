#include "supervisor/journal.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

namespace moat::supervisor {

static void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) {
            return;  // the log is best effort; the services matter more
        }
        off += static_cast<size_t>(n);
    }
}

void journal::event(const std::string& line) const {
    if (_dir < 0) {
        return;
    }
    int fd = ::openat(_dir, "init.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        return;
    }
    char stamp[32];
    time_t now = ::time(nullptr);
    struct tm tm;
    ::gmtime_r(&now, &tm);
    ::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    write_all(fd, stamp + line + "\n");
    ::close(fd);
}

void journal::publish(const nlohmann::json& services) const {
    if (_dir < 0) {
        return;
    }
    int fd = ::openat(_dir, "services.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return;
    }
    write_all(fd, nlohmann::json{{"services", services}}.dump(2) + "\n");
    ::close(fd);
    ::renameat(_dir, "services.json.tmp", _dir, "services.json");
}

}  // namespace moat::supervisor
