#include "init/journal.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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

nlohmann::json or_null(const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(); }

}  // namespace

journal::journal(int log_dir_fd, log_limits limits) : _dir(log_dir_fd), _log(log_dir_fd, "init.log", limits) {}

void journal::event(const std::string& text) noexcept {
    try {
        std::string line = rfc3339_ms(wall_clock::now()) + " " + text;
        std::replace(line.begin(), line.end(), '\n', ' ');  // one event, one line
        line += '\n';
        if (_dir >= 0) {
            _log.append(line);
        } else {
            write_all(STDERR_FILENO, line);
        }
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
                           {"last_exit", or_null(s.last_exit)}, {"last_exit_at", or_null(s.last_exit_at)},
                           {"restart_in_ms", s.restart_in_ms ? nlohmann::json(*s.restart_in_ms) : nlohmann::json()},
                           {"log_errors", s.log_errors},
                           {"log_error", s.log_error.empty() ? nlohmann::json() : nlohmann::json(s.log_error)}};
        }
        nlohmann::json init = {{"log_errors", _log.errors()},
                               {"log_error", _log.last_error().empty() ? nlohmann::json() : nlohmann::json(_log.last_error())}};
        std::string text = nlohmann::json{{"services", all}, {"init", init}}.dump() + "\n";
        // A change that changed nothing shown (a command's exit, then the
        // stop it begins) is not written twice.
        if (!_status_failed && text == _last_status) {
            return;
        }
        // No fsync: the file describes live processes and means nothing
        // after a crash of the machine; rename alone keeps readers safe.
        sys::unique_fd fd(::openat(_dir, "services.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640));
        bool ok = fd && write_all(fd.get(), text);
        fd.reset();
        ok = ok && ::renameat(_dir, "services.json.tmp", _dir, "services.json") == 0;
        if (!ok) {
            int err = errno;
            ::unlinkat(_dir, "services.json.tmp", 0);  // a full disk: do not keep half a file
            errno = err;
        }
        if (!ok && !_status_failed) {
            _status_failed = true;
            event(std::string("cannot write services.json: ") + std::strerror(errno));
        } else if (ok) {
            _status_failed = false;
        }
        _last_status = ok ? std::move(text) : std::string();
    } catch (...) {
    }
}

}  // namespace moat::init::detail
