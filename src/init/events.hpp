// The init's event sources: a signalfd for the signals it handles, a
// timerfd for its one deadline and the read ends of the services' output
// pipes, all behind one (level-triggered) epoll.
#pragma once

#include "sys/unique_fd.hpp"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace moat::init::detail {

class event_sources {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // Blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP (restored by the
    // destructor) so they are only ever read from the signalfd, and ignores
    // SIGPIPE: a write to a closed pipe or socket must be an EPIPE for the
    // init, never its death.
    event_sources();
    ~event_sources();
    event_sources(const event_sources&) = delete;
    event_sources& operator=(const event_sources&) = delete;

    // Reports `fd` readable under `tag` (>= first_tag) from now on.
    static constexpr std::uint64_t first_tag = 16;
    void watch(int fd, std::uint64_t tag);

    // Arms the timer for `when` (steady_clock is CLOCK_MONOTONIC), or disarms it.
    void arm(std::optional<time_point> when);

    struct ready {
        std::vector<int> signals;  // in arrival order; SIGCHLD coalesces
        bool timer = false;
        std::vector<std::uint64_t> readable;  // tags of watched fds with data
    };
    // Blocks until at least one event is there.
    ready wait();

private:
    sigset_t _previous_mask;
    struct sigaction _previous_chld {};
    struct sigaction _previous_pipe {};
    sys::unique_fd _signals;
    sys::unique_fd _timer;
    sys::unique_fd _epoll;
};

}  // namespace moat::init::detail
