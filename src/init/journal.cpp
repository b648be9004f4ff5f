#include "init/journal.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

namespace moat::init::detail {

namespace {

bool write_all(int fd, const std::string& data) noexcept {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        off += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

std::string utc_timestamp() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

journal::journal(int log_dir_fd) : _dir(log_dir_fd) {
    if (_dir >= 0) {
        _log.reset(::openat(_dir, "init.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    }
}

void journal::event(const std::string& text) noexcept {
    try {
        std::string line = utc_timestamp() + " " + text + "\n";
        write_all(_log ? _log.get() : STDERR_FILENO, line);
    } catch (...) {
        // Out of memory while formatting a log line: nothing better to do.
    }
}

void journal::status(const std::vector<service_status>& services) noexcept {
    if (_dir < 0) {
        return;
    }
    try {
        nlohmann::json all = nlohmann::json::object();
        for (const auto& s : services) {
            all[s.name] = {{"state", s.state}, {"pid", s.pid}, {"restarts", s.restarts},
                           {"last_exit", s.last_exit ? nlohmann::json(*s.last_exit) : nlohmann::json()}};
        }
        std::string text = nlohmann::json{{"services", all}}.dump() + "\n";
        // No fsync: the file describes live processes and means nothing
        // after a crash of the machine; rename alone keeps readers safe.
        sys::unique_fd fd(::openat(_dir, "services.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
        bool ok = fd && write_all(fd.get(), text);
        fd.reset();
        ok = ok && ::renameat(_dir, "services.json.tmp", _dir, "services.json") == 0;
        if (!ok && !_status_failed) {
            _status_failed = true;
            event(std::string("cannot write services.json: ") + std::strerror(errno));
        } else if (ok) {
            _status_failed = false;
        }
    } catch (...) {
    }
}

}  // namespace moat::init::detail
