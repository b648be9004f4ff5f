// The init's event sources: a signalfd for the signals it handles and a
// timerfd for its one deadline, both behind one epoll.
#pragma once

#include "sys/unique_fd.hpp"

#include <signal.h>

#include <chrono>
#include <optional>
#include <vector>

namespace moat::init::detail {

class event_sources {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // Blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP (restored by the
    // destructor) so they are only ever read from the signalfd.
    event_sources();
    ~event_sources();
    event_sources(const event_sources&) = delete;
    event_sources& operator=(const event_sources&) = delete;

    // Arms the timer for `when` (steady_clock is CLOCK_MONOTONIC), or disarms it.
    void arm(std::optional<time_point> when);

    struct ready {
        std::vector<int> signals;  // in arrival order; SIGCHLD coalesces
        bool timer = false;
    };
    // Blocks until at least one event is there.
    ready wait();

private:
    sigset_t _previous_mask;
    struct sigaction _previous_chld {};
    sys::unique_fd _signals;
    sys::unique_fd _timer;
    sys::unique_fd _epoll;
};

}  // namespace moat::init::detail
