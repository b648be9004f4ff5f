#include "supervisor/supervisor.hpp"

#include "supervisor/child.hpp"
#include "supervisor/journal.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace moat::supervisor {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct tracked {
    const service* svc = nullptr;
    pid_t pid = 0;
    std::string state = "starting";  // running | exited | restarting | stopped
    int restarts = 0;
    std::optional<std::string> last_exit;
    milliseconds backoff{0};
    clock::time_point started{};
    clock::time_point next_start{};
};

std::string describe(int status) {
    return WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                             : "signal " + std::to_string(WTERMSIG(status));
}

class loop {
public:
    loop(const spec& s, const std::function<int()>& prepare) : _s(s), _prepare(prepare), _journal(s.log_dir_fd) {
        for (const auto& svc : s.services) {
            tracked t;
            t.svc = &svc;
            _services.push_back(t);
        }
    }

    int run() {
        block_signals();
        for (auto& t : _services) {
            start(t);
        }
        publish();
        while (!(_stopping && all_gone())) {
            wait_for_events();
            handle_timers();
        }
        // Anything the services left behind (daemons, stragglers): from PID 1
        // of a namespace, kill(-1) reaches the whole namespace.
        ::kill(-1, SIGKILL);
        while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
        }
        _journal.event("stopped");
        return _exit_code;
    }

private:
    void block_signals() {
        sigset_t set;
        sigemptyset(&set);
        for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
            sigaddset(&set, sig);
        }
        sys::check(::sigprocmask(SIG_BLOCK, &set, nullptr), "blocking signals");
        _sigfd.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!_sigfd) {
            throw sys::errno_error("signalfd");
        }
    }

    void start(tracked& t) {
        try {
            t.pid = start_service(*t.svc, _s, _prepare);
            t.state = "running";
            t.started = clock::now();
            _journal.event("started " + t.svc->name + " pid " + std::to_string(t.pid));
        } catch (const std::exception& e) {
            _journal.event(std::string("failed to start ") + t.svc->name + ": " + e.what());
            t.pid = 0;
            t.last_exit = "status 126";
            schedule_restart(t, false);
        }
    }

    bool should_restart(const tracked& t, bool failed) const {
        switch (t.svc->restart) {
        case config::restart_policy::always: return true;
        case config::restart_policy::on_failure: return failed;
        case config::restart_policy::no: return false;
        }
        return false;
    }

    void schedule_restart(tracked& t, bool ran_long) {
        bool failed = t.last_exit != "status 0";
        if (_stopping || !should_restart(t, failed)) {
            t.state = _stopping ? "stopped" : "exited";
            return;
        }
        t.backoff = ran_long || t.backoff.count() == 0 ? _s.backoff_initial
                                                        : std::min(t.backoff * 2, _s.backoff_max);
        t.state = "restarting";
        t.next_start = clock::now() + t.backoff;
        _journal.event(t.svc->name + " will restart in " + std::to_string(t.backoff.count()) + " ms");
    }

    void exited(pid_t pid, int status) {
        for (auto& t : _services) {
            if (t.pid != pid) {
                continue;
            }
            t.pid = 0;
            t.last_exit = describe(status);
            _journal.event(t.svc->name + " exited with " + *t.last_exit);
            if (_s.exit_with && *_s.exit_with == t.svc->name) {
                _exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                stop_all();
            }
            schedule_restart(t, clock::now() - t.started >= _s.backoff_reset_after);
            publish();
            return;
        }
    }

    void stop_all() {
        if (_stopping) {
            return;
        }
        _stopping = true;
        _deadline = clock::now() + _s.grace;
        for (auto& t : _services) {
            if (t.pid > 0) {
                // Its own session (and so process group) unless it shares ours.
                ::kill(_s.inherit_stdio ? t.pid : -t.pid, SIGTERM);
            } else {
                t.state = "stopped";
            }
        }
        _journal.event("stopping");
        publish();
    }

    void wait_for_events() {
        auto wake = clock::time_point::max();
        for (const auto& t : _services) {
            if (t.state == "restarting") {
                wake = std::min(wake, t.next_start);
            }
        }
        if (_stopping) {
            wake = std::min(wake, _deadline);
        }
        int timeout = -1;
        if (wake != clock::time_point::max()) {
            auto left = std::chrono::duration_cast<milliseconds>(wake - clock::now()).count();
            timeout = static_cast<int>(std::max<long>(left, 0) + 1);
        }
        pollfd pfd{_sigfd.get(), POLLIN, 0};
        if (::poll(&pfd, 1, timeout) > 0) {
            read_signals();
        }
    }

    void read_signals() {
        signalfd_siginfo info;
        while (::read(_sigfd.get(), &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
                // SIGINT on a `moat run` terminal already reached the command itself.
                if (!(info.ssi_signo == SIGINT && _s.inherit_stdio)) {
                    stop_all();
                }
            }
        }
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            exited(pid, status);  // orphans that were never services are just reaped
        }
    }

    void handle_timers() {
        auto now = clock::now();
        if (_stopping && now >= _deadline && !all_gone()) {
            _journal.event("grace period over: killing what is left");
            ::kill(-1, SIGKILL);
            _deadline = clock::time_point::max();
        }
        bool changed = false;
        for (auto& t : _services) {
            if (t.state == "restarting" && now >= t.next_start && !_stopping) {
                ++t.restarts;
                start(t);
                changed = true;
            }
        }
        if (changed) {
            publish();
        }
    }

    bool all_gone() const {
        for (const auto& t : _services) {
            if (t.pid > 0) {
                return false;
            }
        }
        return true;
    }

    void publish() const {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& t : _services) {
            out[t.svc->name] = {{"state", t.state}, {"pid", t.pid}, {"restarts", t.restarts},
                                {"last_exit", t.last_exit ? nlohmann::json(*t.last_exit) : nlohmann::json()}};
        }
        _journal.publish(out);
    }

    const spec& _s;
    const std::function<int()>& _prepare;
    journal _journal;
    std::vector<tracked> _services;
    sys::unique_fd _sigfd;
    bool _stopping = false;
    clock::time_point _deadline = clock::time_point::max();
    int _exit_code = 0;
};

}  // namespace

int run(const spec& s, const std::function<int()>& prepare_child) {
    // execvpe looks commands up in the init's own PATH, not the service's.
    auto path = s.base_environment.find("PATH");
    if (path != s.base_environment.end()) {
        ::setenv("PATH", path->second.c_str(), 1);
    }
    loop l(s, prepare_child);
    return l.run();
}

}  // namespace moat::supervisor
