#include "init/supervisor.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace moat::init::detail {

namespace {

using std::chrono::milliseconds;

std::string describe(int status) {
    if (WIFSIGNALED(status)) {
        return "signal " + std::to_string(WTERMSIG(status));
    }
    return "status " + std::to_string(WEXITSTATUS(status));
}

// The shell's convention, which `moat run` passes on.
int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

std::string seconds(milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

bool wants_restart(config::restart_policy p, int status) {
    switch (p) {
    case config::restart_policy::always:
        return true;
    case config::restart_policy::on_failure:
        return WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
    case config::restart_policy::no:
        break;
    }
    return false;
}

// A service's own process group first; the PID itself covers a child that
// has not reached setsid() yet.
void signal_service(pid_t pid, int sig) {
    if (::kill(-pid, sig) < 0) {
        ::kill(pid, sig);
    }
}

}  // namespace

supervisor::supervisor(const spec& s, std::function<int()> prepare_child)
    : _spec(s), _prepare_child(std::move(prepare_child)), _journal(s.log_dir_fd, s.logs) {
    _dev_null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!_dev_null) {
        throw sys::errno_error("opening /dev/null");
    }
    for (std::size_t i : start_order(s.services)) {
        const service& svc = s.services[i];
        unit u;
        u.svc = &svc;
        u.cmd = command_for(svc, s.base_environment);
        u.backoff = milliseconds(0);  // the first restart of a window is immediate
        _units.push_back(std::move(u));
    }
    open_outputs();
}

bool supervisor::is_exit_with(const unit& u) const { return _spec.exit_with && *_spec.exit_with == u.svc->name; }

void supervisor::start(unit& u) {
    const std::string& name = u.svc->name;
    launch_options opts;
    if (_spec.inherit_stdio && is_exit_with(u)) {
        opts.own_terminal = true;
    } else {
        opts.stdin_fd = _dev_null.get();
        opts.output_fd = u.out_write ? u.out_write.get() : _dev_null.get();
    }
    try {
        u.pid = launch(name, u.cmd, opts, _prepare_child);
    } catch (const std::exception& e) {
        // Most likely EAGAIN from fork: count it as a failed run, so the
        // restart policy and its back-off apply.
        _journal.event(std::string("cannot start ") + name + ": " + e.what());
        u.pid = 0;
        u.started = clock::now();
        exited(u, 127 << 8);
        return;
    }
    u.st = state::running;
    u.started = clock::now();
    _journal.event("started " + name + " pid " + std::to_string(u.pid));
    publish();
}

void supervisor::reap() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;  // 0: the rest still run; ECHILD: no children at all
        }
        for (auto& u : _units) {
            if (u.st == state::running && u.pid == pid) {
                exited(u, status);
                break;
            }
        }
        // Anything else was an orphan the namespace handed to PID 1.
    }
}

void supervisor::exited(unit& u, int status) {
    const std::string& name = u.svc->name;
    auto ran = std::chrono::duration_cast<milliseconds>(clock::now() - u.started);
    drain(u);  // its last words before the news of its end
    u.pid = 0;
    u.last_exit = describe(status);
    u.last_exit_at = rfc3339_ms(wall_clock::now());
    std::string how = name + " exited " + *u.last_exit;
    if (is_exit_with(u)) {
        u.st = state::exited;
        _result = exit_code(status);
        _journal.event(how);
        begin_stop(name + " ended");
    } else if (_stopping) {
        u.st = state::stopped;
        _journal.event(how);
    } else if (wants_restart(u.svc->restart, status)) {
        schedule_restart(u, ran, how);
    } else {
        u.st = state::exited;
        _journal.event(how);
    }
    publish();
}

void supervisor::schedule_restart(unit& u, milliseconds ran, const std::string& how) {
    if (ran >= _spec.backoff_reset_after) {
        u.backoff = milliseconds(0);  // it ran long enough: not a crash loop
    }
    // The first restart since the last healthy run is immediate (a daemon
    // killed once, a tunnel's runner whose daemon died, is back at once); from
    // the second on the back-off grows. A crash loop thus gets one free
    // restart per healthy run of backoff_reset_after, never a spin: it cannot
    // earn a second one without running that long.
    milliseconds delay = u.backoff;
    u.backoff = delay.count() == 0 ? _spec.backoff_initial : std::min(delay * 2, _spec.backoff_max);
    u.st = state::restarting;
    u.delay = delay;
    u.restart_at = clock::now() + delay;
    _journal.event(how + "; restart in " + seconds(delay));
}

void supervisor::handle_signal(int sig) {
    switch (sig) {
    case SIGCHLD:
        reap();
        break;
    case SIGTERM:
    case SIGINT:
        begin_stop(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + " received");
        break;
    case SIGHUP:
        for (auto& u : _units) {
            if (is_exit_with(u) && u.st == state::running) {
                signal_service(u.pid, SIGHUP);
                _journal.event("SIGHUP passed to " + u.svc->name);
                return;
            }
        }
        _journal.event("SIGHUP ignored");
        break;
    default:
        break;
    }
}

void supervisor::handle_deadlines() {
    auto now = clock::now();
    if (_publish_at && now >= *_publish_at) {
        publish();
    }
    if (_stopping && !_killed && now >= _kill_at) {
        kill_everything();
    }
    for (auto& u : _units) {
        if (!_stopping && u.st == state::restarting && now >= u.restart_at) {
            ++u.restarts;
            start(u);
        }
    }
}

void supervisor::begin_stop(const std::string& why) {
    if (_stopping) {
        return;
    }
    _stopping = true;
    _kill_at = clock::now() + _spec.grace;
    int signalled = 0;
    for (auto& u : _units) {
        if (u.st == state::running) {
            signal_service(u.pid, SIGTERM);
            ++signalled;
        } else if (u.st == state::restarting || u.st == state::waiting) {
            u.st = state::stopped;
        }
    }
    _journal.event("stopping (" + why + "): SIGTERM to " + std::to_string(signalled) +
                   " services, SIGKILL in " + seconds(_spec.grace));
    publish();
}

void supervisor::kill_everything() {
    _killed = true;
    // Only PID 1 of a PID namespace may use kill(-1): there it means "every
    // process of this namespace"; anywhere else it is every process we may
    // signal on the machine.
    if (::getpid() == 1) {
        _journal.event("grace period over: SIGKILL to every process");
        ::kill(-1, SIGKILL);
        return;
    }
    _journal.event("grace period over: SIGKILL to every service");
    for (auto& u : _units) {
        if (u.st == state::running) {
            signal_service(u.pid, SIGKILL);
        }
    }
}

void supervisor::rearm() {
    std::optional<clock::time_point> next;
    auto consider = [&](clock::time_point t) { next = next ? std::min(*next, t) : t; };
    if (_stopping && !_killed) {
        consider(_kill_at);
    }
    if (_publish_at) {
        consider(*_publish_at);
    }
    for (const auto& u : _units) {
        if (!_stopping && u.st == state::restarting) {
            consider(u.restart_at);
        }
    }
    _events.arm(next);
}

void supervisor::publish() {
    static constexpr const char* names[] = {"stopped", "running", "exited", "restarting", "stopped"};
    std::vector<service_status> all;
    try {
        for (const auto& u : _units) {
            service_status st{u.svc->name, names[static_cast<int>(u.st)], u.pid, u.restarts, u.last_exit,
                              u.last_exit_at, std::nullopt, 0, ""};
            if (u.st == state::restarting) {
                st.restart_in_ms = u.delay.count();
            }
            if (u.log) {
                st.log_errors = u.log->file().errors();
                st.log_error = u.log->file().last_error();
            }
            all.push_back(std::move(st));
        }
    } catch (...) {
        return;  // out of memory: the next change publishes again
    }
    _journal.status(all);
    _published_errors = log_errors();
    _published_at = clock::now();
    _publish_at.reset();
}

bool supervisor::finished() const {
    if (!_stopping) {
        return false;
    }
    for (const auto& u : _units) {
        if (u.st == state::running) {
            return false;
        }
    }
    return true;
}

int supervisor::run() {
    _journal.event("init of container " + _spec.container + " starting " + std::to_string(_units.size()) +
                   " services");
    for (auto& u : _units) {
        if (!_stopping) {
            start(u);
        }
    }
    reap();  // a service may have died before SIGCHLD was read
    // The container's init is a fork of the CLI: its heap is the CLI's at
    // the fork, with every chunk freed since (the spec's parsing, the root's
    // building) held in dirty pages of its own. Handing the free ones back
    // before it idles keeps an idle container's memory to what it uses.
    ::malloc_trim(0);
    while (!finished()) {
        rearm();
        auto ready = _events.wait();
        for (int sig : ready.signals) {
            handle_signal(sig);
        }
        for (auto tag : ready.readable) {
            read_output(_units.at(tag - event_sources::first_tag), read_budget);
        }
        publish_log_errors();
        handle_deadlines();
    }
    if (::getpid() == 1) {
        // Daemons the services left behind: nobody else will end them, and
        // the namespace's processes must be gone before init returns.
        _journal.event("SIGKILL to every process left in the namespace");
        ::kill(-1, SIGKILL);
        while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
        }
    } else {
        reap();
    }
    for (auto& u : _units) {
        drain(u);  // what the last processes wrote
    }
    _journal.event("init of container " + _spec.container + " done, exit status " + std::to_string(_result));
    return _result;
}

}  // namespace moat::init::detail

namespace moat::init {

int run(const spec& s, std::function<int()> prepare_child) {
    if (s.exit_with) {
        bool found = false;
        for (const auto& svc : s.services) {
            found = found || svc.name == *s.exit_with;
        }
        if (!found) {
            throw moat::usage_error("exit_with names " + *s.exit_with + ", which is not a service");
        }
    }
    start_order(s.services);  // reject a bad `after` before a signal is blocked
    detail::supervisor sup(s, std::move(prepare_child));
    return sup.run();
}

}  // namespace moat::init
