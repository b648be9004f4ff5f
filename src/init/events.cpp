#include "init/events.hpp"

#include "sys/error.hpp"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>

namespace moat::init::detail {

namespace {

enum tag : std::uint64_t { signal_tag = 1, timer_tag = 2 };

void add_watch(int epoll_fd, int fd, std::uint64_t t) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = t;
    sys::check(::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev), "watching the init's event sources");
}

}  // namespace

event_sources::event_sources() {
    // An ignored SIGCHLD (inherited through exec) would make the kernel reap
    // children itself and waitpid() would never see an exit status.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &dfl, &_previous_chld);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &_previous_pipe);

    sigset_t set;
    ::sigemptyset(&set);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
        ::sigaddset(&set, sig);
    }
    sys::check(::sigprocmask(SIG_BLOCK, &set, &_previous_mask), "blocking signals");
    _signals.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    _timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    _epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!_signals || !_timer || !_epoll) {
        int err = errno;
        ::sigprocmask(SIG_SETMASK, &_previous_mask, nullptr);
        ::sigaction(SIGCHLD, &_previous_chld, nullptr);
        ::sigaction(SIGPIPE, &_previous_pipe, nullptr);
        throw sys::errno_error("creating the init's event sources", err);
    }
    add_watch(_epoll.get(), _signals.get(), signal_tag);
    add_watch(_epoll.get(), _timer.get(), timer_tag);
}

event_sources::~event_sources() {
    ::sigprocmask(SIG_SETMASK, &_previous_mask, nullptr);
    ::sigaction(SIGCHLD, &_previous_chld, nullptr);
    ::sigaction(SIGPIPE, &_previous_pipe, nullptr);
}

void event_sources::watch(int fd, std::uint64_t tag) {
    add_watch(_epoll.get(), fd, tag);
}

void event_sources::arm(std::optional<time_point> when) {
    itimerspec spec{};  // all zero: disarmed
    if (when) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when->time_since_epoch()).count();
        if (ns <= 0) {
            ns = 1;  // zero would disarm; "already due" must still fire
        }
        spec.it_value.tv_sec = ns / 1000000000;
        spec.it_value.tv_nsec = ns % 1000000000;
    }
    sys::check(::timerfd_settime(_timer.get(), TFD_TIMER_ABSTIME, &spec, nullptr), "arming the init's timer");
}

event_sources::ready event_sources::wait() {
    ready r;
    epoll_event evs[64];
    int n;
    do {
        n = ::epoll_wait(_epoll.get(), evs, 64, -1);
    } while (n < 0 && errno == EINTR);
    sys::check(n, "waiting for events");
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 >= first_tag) {
            r.readable.push_back(evs[i].data.u64);
        } else if (evs[i].data.u64 == timer_tag) {
            std::uint64_t expirations;
            r.timer = ::read(_timer.get(), &expirations, sizeof expirations) == sizeof expirations;
        } else {
            signalfd_siginfo si;
            while (::read(_signals.get(), &si, sizeof si) == sizeof si) {
                r.signals.push_back(static_cast<int>(si.ssi_signo));
            }
        }
    }
    return r;
}

}  // namespace moat::init::detail
