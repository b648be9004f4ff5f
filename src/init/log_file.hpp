// Bounded, rotated, timestamped logs: what the init writes for each service
// and for itself (init.log).
//
// Theory of operation: a service never holds a descriptor of its log file.
// Its stdout and stderr are the write end of a pipe whose read end only the
// init has (supervisor.cpp), so this code is the only writer and the cap it
// keeps is real: no file passes `size` bytes and a log has at most `files`
// files (<name>.log, <name>.log.1, ... — the higher the number, the older).
// A write that would pass the cap first rotates: .k -> .k+1 (rename(2)
// replaces the oldest), <name>.log -> <name>.log.1, a new <name>.log. When
// rotating fails the current file is truncated instead: losing old lines
// beats passing the cap.
//
// Lines: a service's bytes are cut at '\n' and at `line` bytes (a service
// that never writes a newline still makes bounded lines), and each line gets
// the wall-clock time (CLOCK_REALTIME) at which the init read its first byte,
// RFC 3339 in UTC with milliseconds: "2026-11-29T01:02:03.456Z <line>". A
// partial line waits for its newline until the service exits; the init then
// drains the pipe and writes what is left.
//
// Errors (ENOSPC, EIO, a failed open or rename) never end the init, which is
// PID 1 of the container: the lines are dropped, the failure counted, and
// the last one kept for services.json. On ENOSPC the log first rotates once
// (dropping its oldest file frees space) and tries again.
#pragma once

#include "init/init.hpp"
#include "sys/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace moat::init::detail {

using wall_clock = std::chrono::system_clock;

// "2026-11-29T01:02:03.456Z"
std::string rfc3339_ms(wall_clock::time_point t);

class rotating_log {
public:
    // `file` is the current file's name in dir_fd ("web.log"). Opens lazily.
    rotating_log(int dir_fd, std::string file, log_limits limits);

    // Appends `lines` (whole lines, each ending in '\n'), rotating between
    // two lines when the next would pass the cap. Never throws.
    void append(std::string_view lines) noexcept;

    std::uint64_t errors() const { return _errors; }
    const std::string& last_error() const { return _last_error; }  // "" when none

private:
    bool open() noexcept;
    void rotate() noexcept;
    int write_all(std::string_view& data) noexcept;
    void failed(const std::string& what, int err) noexcept;
    std::string rotated(unsigned k) const { return _file + "." + std::to_string(k); }

    int _dir;
    std::string _file;
    log_limits _limits;
    sys::unique_fd _fd;
    std::uint64_t _size = 0;
    std::uint64_t _errors = 0;
    std::string _last_error;
};

// A service's output: bytes in, stamped and bounded lines out.
class line_log {
public:
    line_log(int dir_fd, std::string file, log_limits limits) : _log(dir_fd, std::move(file), limits), _max(limits.line) {}

    // Bytes the init read from the service at `now`. Never throws.
    void feed(std::string_view data, wall_clock::time_point now) noexcept;
    // Writes the pending partial line, if any (the service exited).
    void flush() noexcept;

    const rotating_log& file() const { return _log; }

private:
    void emit(std::string_view content, wall_clock::time_point since);

    rotating_log _log;
    std::size_t _max;
    std::string _partial;
    wall_clock::time_point _partial_since{};
    std::string _out;  // the lines of one feed(), written at once
    wall_clock::time_point _stamped{};
    std::string _stamp;  // rfc3339_ms(_stamped) + " ", reused while the millisecond lasts
};

// Removes the log files of services this init does not run (a recreated
// container keeps its logs directory) and rotated files past `files`, so
// the directory stays bounded however the configuration changes.
void prune_logs(int dir_fd, const std::set<std::string>& services, unsigned files) noexcept;

}  // namespace moat::init::detail
