// moat up --foreground: `up`, then stay and supervise, for a service manager
// (dist/systemd/moat@.service) or a terminal.
//
// Theory of operation:
//  * Start: SIGTERM, SIGINT, SIGHUP and SIGCHLD are blocked first and read
//    from a signalfd, so a stop requested while `up` is still converging is
//    kept pending and honoured right after it, never lost and never fatal
//    half-way. (The containers' inits are forks of this process and inherit
//    the mask; they block those signals for their own signalfd anyway, and
//    every service starts with the defaults, init/launch.cpp.) Then exactly
//    `moat up` runs (cmd_up: converge under the state lock, then the tunnel
//    wait without it) and READY=1 goes to $NOTIFY_SOCKET (sys/notify.hpp). A
//    tunnel that did not pass traffic within the wait is said in STATUS= but
//    is not fatal here: at boot the uplink may come late, the runner keeps
//    trying, and the confined containers fail closed meanwhile.
//  * Supervise: the file's containers are the records with origin "file"
//    and this file as source — the same set `down -f` takes. Each live init
//    is watched through a pidfd (it may be a child of this process or, for a
//    container an earlier `up` started and this one found unchanged, not);
//    an init seen dead (container::running, zombies count as dead, and
//    children are reaped on SIGCHLD) makes the whole file converge again
//    after a back-off — 1 s, doubling to 60 s, back to 1 s once the last
//    restart is 60 s old — which `up` does as "repair" for the dead
//    container and "unchanged" for the rest. A container someone removed
//    with `moat down NAME` has no record and is left alone.
//  * SIGHUP re-converges at once (ExecReload=; an edited file is applied).
//  * Cgroups: with MOAT_CGROUP_DELEGATED=1 (the unit sets it next to
//    Delegate=yes) moat moves itself to a leaf of its own cgroup and puts the
//    containers' cgroups below that cgroup (sandbox/cgroup_layout.hpp);
//    without it, or in the root cgroup, today's <mount>/moat/... as `up`.
//  * SIGTERM/SIGINT: STOPPING=1, then exactly `moat down -f FILE` (cmd_down)
//    for the containers this file brought up; exit with its status.
#include "cli/commands.hpp"
#include "container/runtime.hpp"
#include "sandbox/cgroup_layout.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/notify.hpp"
#include "sys/unique_fd.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace moat::cli {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr seconds first_delay{1};
constexpr seconds max_delay{60};
constexpr seconds stable_after{60};
constexpr seconds rescan_every{30};  // records another `up` added meanwhile

sys::unique_fd block_and_open_signals() {
    sigset_t set;
    ::sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
        ::sigaddset(&set, sig);
    }
    sys::check(::sigprocmask(SIG_BLOCK, &set, nullptr), "blocking the stop signals");
    sys::unique_fd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) {
        throw sys::errno_error("creating a signalfd");
    }
    return fd;
}

struct watched {
    std::vector<std::string> dead;
    std::vector<sys::unique_fd> pidfds;  // one per live init
    std::size_t running = 0;
};

// The file's containers as `down -f` finds them: alive ones get a pidfd.
watched scan(const state::store& store, const std::string& source) {
    watched w;
    if (!store.exists()) {
        return w;
    }
    for (const auto& r : store.scan().records) {
        if (r.origin != "file" || r.source != source) {
            continue;
        }
        sys::unique_fd fd(static_cast<int>(::syscall(SYS_pidfd_open, r.init.pid, 0)));
        // Alive after the pidfd was opened: the pidfd is that very process.
        if (fd && container::running(r)) {
            w.pidfds.push_back(std::move(fd));
            ++w.running;
        } else {
            w.dead.push_back(r.name);
        }
    }
    return w;
}

void reap_children() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        out += (out.empty() ? "" : ", ") + n;
    }
    return out;
}

// `up` again; an error (a file edited into an invalid one, a busy name) is
// logged and the containers that run keep running. 0 when it converged.
int converge_again(const globals& g, const up_args& a) {
    try {
        return cmd_up(g, a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: error: re-converging %s: %s\n", a.file.c_str(), e.what());
        return 1;
    }
}

class backoff {
public:
    // When the next restart may happen, given a death seen now.
    steady::time_point due() const { return _last + _delay; }
    void restarted() {
        auto now = steady::now();
        if (now - _last > stable_after + _delay) {
            _delay = first_delay;
        } else {
            _delay = std::min<steady::duration>(_delay * 2, max_delay);
        }
        _last = now;
    }
    long delay_seconds() const { return std::chrono::duration_cast<seconds>(_delay).count(); }

private:
    steady::time_point _last = steady::now() - stable_after * 2;
    steady::duration _delay = first_delay;
};

enum class wake { stop, reload, other };

wake read_signals(int fd) {
    wake w = wake::other;
    signalfd_siginfo si;
    while (::read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            w = wake::stop;
        } else if (si.ssi_signo == SIGHUP && w != wake::stop) {
            w = wake::reload;
        }
    }
    reap_children();
    return w;
}

std::string ready_status(const watched& w) {
    return "STATUS=" + std::to_string(w.running) + " container(s) running" +
           (w.dead.empty() ? "" : ", restarting " + join(w.dead));
}

// Waits for a death, a signal or the back-off; returns how it ended.
wake supervise(const globals& g, const up_args& a, const state::store& store, const std::string& source,
               int signals) {
    backoff bo;
    for (;;) {
        reap_children();
        auto w = scan(store, source);
        auto now = steady::now();
        if (!w.dead.empty() && now >= bo.due()) {
            bo.restarted();
            std::fprintf(stderr, "moat: container(s) %s of %s stopped: starting again (next restart no sooner "
                         "than %ld s)\n", join(w.dead).c_str(), source.c_str(), bo.delay_seconds());
            sys::notify("STATUS=restarting " + join(w.dead));
            converge_again(g, a);
            sys::notify(ready_status(scan(store, source)));
            continue;
        }
        std::vector<pollfd> fds{{signals, POLLIN, 0}};
        for (const auto& fd : w.pidfds) {
            fds.push_back({fd.get(), POLLIN, 0});
        }
        auto wait = w.dead.empty() ? steady::duration(rescan_every) : bo.due() - now;
        int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) + 1;
        int n = ::poll(fds.data(), fds.size(), ms);
        if (n < 0 && errno != EINTR) {
            throw sys::errno_error("waiting for the containers' inits");
        }
        if (n > 0 && (fds[0].revents & POLLIN)) {
            auto why = read_signals(signals);
            if (why == wake::stop) {
                return why;
            }
            if (why == wake::reload) {
                sys::notify("RELOADING=1\nSTATUS=reloading " + source);
                converge_again(g, a);
                sys::notify("READY=1\n" + ready_status(scan(store, source)));
            }
        }
    }
}

}  // namespace

int cmd_up_foreground(const globals& g, const up_args& a) {
    if (a.file == "-") {
        throw usage_error("up --foreground: needs a file it can read again (-f PATH, not stdin)");
    }
    auto signals = block_and_open_signals();
    if (const char* d = std::getenv("MOAT_CGROUP_DELEGATED"); d && std::string(d) == "1") {
        if (!sandbox::use_delegated_cgroup()) {
            std::fprintf(stderr, "moat: note: MOAT_CGROUP_DELEGATED=1, but moat runs in the root cgroup "
                         "(or without cgroup v2): containers' cgroups stay in the default place\n");
        }
    }
    std::string source = std::filesystem::absolute(a.file).string();
    sys::notify("STATUS=bringing up " + source);
    int rc = cmd_up(g, a);
    state::store store(g.state_dir);
    auto w = scan(store, source);
    sys::notify("READY=1\n" + ready_status(w) + (rc != 0 ? "; a tunnel does not pass traffic yet" : ""));
    std::fflush(stdout);

    supervise(g, a, store, source, signals.get());

    sys::notify("STOPPING=1\nSTATUS=taking down " + source);
    std::fprintf(stderr, "moat: stopping: taking down what %s brought up\n", source.c_str());
    up_args down = a;
    down.file_given = true;
    int down_rc = cmd_down(g, down);
    reap_children();
    return down_rc;
}

}  // namespace moat::cli
