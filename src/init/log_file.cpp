#include "init/log_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>

namespace moat::init::detail {

// The calendar by arithmetic (std::chrono's civil dates), not gmtime_r:
// glibc's first gmtime_r reads the time zone (/etc/localtime), on the way
// to every container's first line.
std::string rfc3339_ms(wall_clock::time_point t) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);  // before 1970 too: floor, not truncate
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss time{ms - day};
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
    return buf;
}

rotating_log::rotating_log(int dir_fd, std::string file, log_limits limits)
    : _dir(dir_fd), _file(std::move(file)), _limits(limits) {
    // A file must hold at least one whole line, or rotation could not help.
    _limits.files = std::max(_limits.files, 1u);
    _limits.size = std::max<std::uint64_t>(_limits.size, _limits.line + 64);
}

void rotating_log::failed(const std::string& what, int err) noexcept {
    ++_errors;
    try {
        _last_error = what + " " + _file + ": " + std::strerror(err);
    } catch (...) {
    }
}

bool rotating_log::open() noexcept {
    // O_NOFOLLOW: the directory is the container's root's on the host; a
    // link planted there must not redirect the init's writes.
    _fd.reset(::openat(_dir, _file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!_fd) {
        failed("opening", errno);
        return false;
    }
    struct stat st {};
    _size = ::fstat(_fd.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    return true;
}

void rotating_log::rotate() noexcept {
    _fd.reset();
    bool ok = true;
    if (_limits.files == 1) {
        ok = ::unlinkat(_dir, _file.c_str(), 0) == 0 || errno == ENOENT;
    } else {
        for (unsigned k = _limits.files - 1; k >= 2 && ok; --k) {
            ok = ::renameat(_dir, rotated(k - 1).c_str(), _dir, rotated(k).c_str()) == 0 || errno == ENOENT;
        }
        ok = ok && (::renameat(_dir, _file.c_str(), _dir, rotated(1).c_str()) == 0 || errno == ENOENT);
    }
    if (!ok) {
        failed("rotating", errno);
    }
    if (open() && _size > 0) {
        // Rotation failed and the old file is still there: start it over.
        if (::ftruncate(_fd.get(), 0) == 0) {
            _size = 0;
        } else {
            failed("truncating", errno);
            _fd.reset();
        }
    }
}

// Writes as much as it can; returns 0 or the errno that stopped it, with
// `data` reduced to what is left.
int rotating_log::write_all(std::string_view& data) noexcept {
    while (!data.empty()) {
        ssize_t n = ::write(_fd.get(), data.data(), data.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            failed("writing", err);
            return err;
        }
        _size += static_cast<std::uint64_t>(n);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

void rotating_log::append(std::string_view lines) noexcept {
    bool freed = false;
    while (!lines.empty()) {
        if (!_fd && !open()) {
            return;  // dropped; counted by open()
        }
        std::uint64_t space = _size >= _limits.size ? 0 : _limits.size - _size;
        std::string_view chunk = lines;
        if (lines.size() > space) {
            // The whole lines that still fit, then a new file for the rest.
            std::size_t fit = space == 0 ? std::string_view::npos : lines.rfind('\n', static_cast<std::size_t>(space - 1));
            if (fit != std::string_view::npos) {
                chunk = lines.substr(0, fit + 1);
            } else if (_size == 0) {
                // One line longer than a whole file (not with the limits
                // the constructor keeps): what fits, the rest of it is lost.
                std::string_view cut = lines.substr(0, static_cast<std::size_t>(space) - 1);
                std::string_view nl = "\n";
                if (write_all(cut) == 0) {
                    write_all(nl);
                }
                std::size_t end = lines.find('\n');
                lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
                continue;
            } else {
                rotate();
                if (!_fd || _size != 0) {
                    return;  // neither rotated nor truncated (counted): drop the rest, keep the cap
                }
                continue;
            }
        }
        std::size_t before = chunk.size();
        int err = write_all(chunk);
        lines.remove_prefix(before - chunk.size());
        if (err == 0) {
            continue;
        }
        // A full file system: give up the oldest file (rotating drops it)
        // and try once more, so the newest lines are the ones kept.
        if ((err == ENOSPC || err == EDQUOT) && !freed && _size > 0) {
            freed = true;
            rotate();
            if (_fd && _size == 0) {
                continue;
            }
        }
        return;  // the rest is dropped (counted)
    }
}

void line_log::emit(std::string_view content, wall_clock::time_point since) {
    if (since != _stamped || _stamp.empty()) {
        _stamped = since;
        _stamp = rfc3339_ms(since) + " ";
    }
    _out += _stamp;
    _out += content;
    _out += '\n';
}

void line_log::feed(std::string_view data, wall_clock::time_point now) noexcept {
    try {
        while (!data.empty()) {
            if (_partial.empty()) {
                _partial_since = now;
            }
            std::size_t nl = data.find('\n');
            std::size_t piece = nl == std::string_view::npos ? data.size() : nl;
            // Cut at _max bytes: a line never grows without bound.
            while (_partial.size() + piece > _max) {
                std::size_t take = _max - _partial.size();
                _partial.append(data.substr(0, take));
                emit(_partial, _partial_since);
                _partial.clear();
                _partial_since = now;
                data.remove_prefix(take);
                piece -= take;
            }
            if (nl == std::string_view::npos) {
                _partial.append(data);
                break;
            }
            if (_partial.empty()) {
                emit(data.substr(0, piece), now);
            } else {
                _partial.append(data.substr(0, piece));
                emit(_partial, _partial_since);
                _partial.clear();
            }
            data.remove_prefix(piece + 1);
        }
    } catch (...) {
        // Out of memory: what was assembled is still written below.
    }
    _log.append(_out);
    _out.clear();
}

void line_log::flush() noexcept {
    if (_partial.empty()) {
        return;
    }
    try {
        emit(_partial, _partial_since);
    } catch (...) {
    }
    _partial.clear();
    _log.append(_out);
    _out.clear();
}

namespace {

// "web.log" -> "web", 0; "web.log.3" -> "web", 3; anything else: no.
bool log_name(const std::string& name, std::string& service, unsigned& k) {
    auto at = name.rfind(".log");
    if (at == std::string::npos || at == 0) {
        return false;
    }
    std::string tail = name.substr(at + 4);
    if (tail.empty()) {
        k = 0;
    } else if (tail.size() > 1 && tail[0] == '.' && tail.find_first_not_of("0123456789", 1) == std::string::npos &&
               tail.size() < 6) {
        k = static_cast<unsigned>(std::stoul(tail.substr(1)));
    } else {
        return false;
    }
    service = name.substr(0, at);
    return true;
}

}  // namespace

void prune_logs(int dir_fd, const std::set<std::string>& services, unsigned files) noexcept {
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d) {
        if (fd >= 0) {
            ::close(fd);
        }
        return;
    }
    try {
        std::set<std::string> doomed;
        while (dirent* e = ::readdir(d)) {
            std::string service;
            unsigned k = 0;
            if (e->d_type == DT_REG && log_name(e->d_name, service, k) &&
                (k >= files || (service != "init" && !services.count(service)))) {
                doomed.insert(e->d_name);
            }
        }
        for (const auto& name : doomed) {
            ::unlinkat(dir_fd, name.c_str(), 0);
        }
    } catch (...) {
    }
    ::closedir(d);
}

}  // namespace moat::init::detail
