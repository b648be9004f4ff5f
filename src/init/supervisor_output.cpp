// The services' output: pipes read by the init and written to bounded logs
// (init.hpp and log_file.hpp have the theory).
#include "init/supervisor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace moat::init::detail {

// One pipe per service, made before anything starts. Without a log
// directory (or when the pipe cannot be made) output goes to /dev/null, as
// it must never go to a file the service could write past the cap.
void supervisor::open_outputs() {
    if (_spec.log_dir_fd < 0) {
        return;
    }
    std::set<std::string> names;
    for (const auto& u : _units) {
        names.insert(u.svc->name);
    }
    prune_logs(_spec.log_dir_fd, names, _spec.logs.files);
    for (std::size_t i = 0; i < _units.size(); ++i) {
        unit& u = _units[i];
        if (_spec.inherit_stdio && is_exit_with(u)) {
            continue;  // `moat run`: its command's output is relayed, not logged
        }
        int fds[2];
        // Both ends close on exec: launch() dup2s the write end to 1 and 2
        // of the service only. Only the read end is non-blocking: the
        // service's writes block when the pipe is full (back-pressure).
        if (::pipe2(fds, O_CLOEXEC) < 0) {
            _journal.event("cannot make a pipe for the output of " + u.svc->name + " (" + std::strerror(errno) +
                           "); it is discarded");
            continue;
        }
        u.out_read.reset(fds[0]);
        u.out_write.reset(fds[1]);
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
        _events.watch(fds[0], event_sources::first_tag + i);
        u.log = std::make_unique<line_log>(_spec.log_dir_fd, u.svc->name + ".log", _spec.logs);
    }
}

void supervisor::read_output(unit& u, std::size_t budget) {
    if (!u.out_read) {
        return;
    }
    char buf[read_budget];
    while (budget > 0) {
        ssize_t n = ::read(u.out_read.get(), buf, std::min(budget, sizeof buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // EAGAIN: all read (the init holds the write end: never EOF)
        }
        u.log->feed(std::string_view(buf, static_cast<std::size_t>(n)), wall_clock::now());
        budget -= static_cast<std::size_t>(n);
    }
}

// A service ended (or the init is about to): what is in its pipe is its
// last output. Bounded too: processes it left behind may still be writing.
void supervisor::drain(unit& u) {
    if (u.log) {
        read_output(u, 16 * read_budget);
        u.log->flush();
    }
}

std::uint64_t supervisor::log_errors() const {
    std::uint64_t n = _journal.log_errors();
    for (const auto& u : _units) {
        n += u.log ? u.log->file().errors() : 0;
    }
    return n;
}

void supervisor::publish_log_errors() {
    if (_publish_at || log_errors() == _published_errors) {
        return;
    }
    auto due = _published_at + std::chrono::seconds(1);
    if (clock::now() >= due) {
        publish();
    } else {
        _publish_at = due;
    }
}

}  // namespace moat::init::detail
