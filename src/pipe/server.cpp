#include "pipe/server.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "sys/error.hpp"

namespace moat::pipe {

namespace {
// Tokens of the loop's own descriptors (connection ids start at 1).
constexpr std::uint64_t tok_signal = token(0, 0);
constexpr std::uint64_t tok_jobs = token(0, 1);
constexpr std::uint64_t tok_listener = token(0, 2);
// Both buffers hold 256 packets: 256 KiB of plaintext or its ciphertext.
constexpr std::size_t scratch_size = 256 * packet_size;

// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM),
// accept4() fails and leaves the client in the listen queue, so the
// listener stays readable and (level-triggered) epoll reports it again on
// every wait: retrying at once spins a CPU on thousands of failed accepts a
// second. So the listener leaves the epoll set for a pause, 100 ms doubling
// to 1 s while accepting keeps failing, and comes back early when a
// connection closes (that frees descriptors). Meanwhile clients wait in the
// kernel's backlog, and beyond it their SYNs are dropped and retried by the
// client; spiped in the same state idles too.
constexpr clock::duration min_backoff = std::chrono::milliseconds(100);
constexpr clock::duration max_backoff = std::chrono::seconds(1);

void watch(int epfd, int fd, std::uint64_t tok, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tok;
    sys::check(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev), "adding a descriptor to epoll");
}
}  // namespace

server::server(const server_config& cfg, const secret32& key) : _cfg(cfg), _key(key) {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &_old_mask);
    _epoll.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!_epoll) {
        throw sys::errno_error("creating epoll instance");
    }
    _signal.reset(signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!_signal) {
        throw sys::errno_error("creating signalfd");
    }
    watch(_epoll.get(), _signal.get(), tok_signal, EPOLLIN);
    _workers = std::make_unique<worker_pool>(std::max(1u, cfg.dh_threads));
    watch(_epoll.get(), _workers->event_fd(), tok_jobs, EPOLLIN);

    _ctx.epoll_fd = _epoll.get();
    _ctx.side = cfg.side;
    _ctx.key = &_key;
    _ctx.group = &_group;
    _ctx.workers = _workers.get();
    _ctx.no_pfs = cfg.no_pfs;
    _ctx.require_pfs = cfg.require_pfs;
    _ctx.keepalive = cfg.keepalive;
    _ctx.timeout = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(cfg.timeout));
    _ctx.in_buf.resize(scratch_size);
    _ctx.out_buf.resize(scratch_size);
    _ctx.add_deadline = [this](std::uint64_t id, clock::time_point when) { _deadlines.emplace_back(when, id); };
}

server::~server() {
    _conns.clear();
    _workers.reset();
    wipe(_ctx.in_buf.data(), _ctx.in_buf.size());
    wipe(_ctx.out_buf.data(), _ctx.out_buf.size());
    pthread_sigmask(SIG_SETMASK, &_old_mask, nullptr);
}

void server::set_targets(std::vector<sock_addr> targets) {
    _targets = std::move(targets);
    _resolved_at = clock::now();
}

void server::refresh_targets() {
    auto age = std::chrono::duration<double>(clock::now() - _resolved_at).count();
    if (!_targets.empty() && (_cfg.resolve_every < 0 || age < _cfg.resolve_every)) {
        return;
    }
    try {
        set_targets(resolve(_cfg.target));
    } catch (const std::exception&) {
        // Keep the addresses we had (spiped does the same); with none yet
        // (-D), this connection fails and the next one tries again.
        _resolved_at = clock::now();
    }
}

void server::add_listener(sys::unique_fd fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    sys::check(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len), "reading the listening address");
    _listener_family = ss.ss_family;
    tune_socket(fd.get(), _listener_family, _cfg.keepalive);
    _listener = std::move(fd);
    watch(_epoll.get(), _listener.get(), tok_listener, EPOLLIN);
    _listening = true;
}

void server::set_listening(bool on) {
    if (!_listener || on == _listening) {
        return;
    }
    epoll_event ev{};
    ev.events = on ? std::uint32_t(EPOLLIN) : 0u;
    ev.data.u64 = tok_listener;
    sys::check(epoll_ctl(_epoll.get(), EPOLL_CTL_MOD, _listener.get(), &ev), "pausing the listener");
    _listening = on;
}

void server::starve() {
    _starved = true;
    _backoff = std::clamp(_backoff, min_backoff, max_backoff);
    _resume_at = clock::now() + _backoff;
    _backoff = std::min(_backoff * 2, max_backoff);
    set_listening(false);
}

void server::resume_if_due() {
    if (_starved && clock::now() >= _resume_at) {
        _starved = false;
        set_listening(_cfg.max_conns == 0 || _conns.size() < _cfg.max_conns);
    }
}

void server::add_stdio_connection() {
    refresh_targets();
    int in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0) {
        throw sys::errno_error("duplicating stdin/stdout");
    }
    // stdout must really close at EOF (the reader waits for it): keep no other copy.
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        ::close(devnull);
    }
    for (int fd : {in, out}) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    std::uint64_t id = _next_id++;
    add_connection(id, std::make_unique<connection>(_ctx, id, sys::unique_fd(), sys::unique_fd(in),
                                                    sys::unique_fd(out), _targets));
}

void server::add_connection(std::uint64_t id, std::unique_ptr<connection> c) {
    if (c->finished()) {
        _all_clean = _all_clean && c->clean();
        return;
    }
    _conns.emplace(id, std::move(c));
}

void server::on_accept() {
    while (_listening && (_cfg.max_conns == 0 || _conns.size() < _cfg.max_conns)) {
        sys::unique_fd fd(accept4(_listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                starve();
                return;
            }
            break;  // EAGAIN: drained (or the client gave up already)
        }
        _backoff = min_backoff;
        // TCP_NODELAY and SO_KEEPALIVE were set on the listener; Linux
        // copies them into every accepted socket (two syscalls saved).
        refresh_targets();
        std::uint64_t id = _next_id++;
        std::unique_ptr<connection> c;
        if (_cfg.side == role::client) {
            c = std::make_unique<connection>(_ctx, id, sys::unique_fd(), std::move(fd), sys::unique_fd(), _targets);
        } else {
            c = std::make_unique<connection>(_ctx, id, std::move(fd), sys::unique_fd(), sys::unique_fd(), _targets);
        }
        add_connection(id, std::move(c));
    }
    set_listening(_cfg.max_conns == 0 || _conns.size() < _cfg.max_conns);
}

void server::reap(std::uint64_t id) {
    auto it = _conns.find(id);
    if (it == _conns.end() || !it->second->finished()) {
        return;
    }
    _all_clean = _all_clean && it->second->clean();
    _conns.erase(it);
    if (_listener && !_listening && (_cfg.max_conns == 0 || _conns.size() < _cfg.max_conns)) {
        _starved = false;  // a descriptor was freed: try now, not at _resume_at
        set_listening(true);
    }
}

void server::handle_jobs() {
    for (auto& [t, ok] : _workers->finished()) {
        auto it = _conns.find(t.first);
        if (it != _conns.end()) {
            it->second->on_job_done(t.second, ok);
            reap(t.first);
        }
    }
}

void server::expire_deadlines() {
    auto now = clock::now();
    while (!_deadlines.empty() && _deadlines.front().first <= now) {
        std::uint64_t id = _deadlines.front().second;
        _deadlines.pop_front();
        auto it = _conns.find(id);
        if (it != _conns.end()) {
            it->second->on_deadline();
            reap(id);
        }
    }
}

int server::wait_timeout() const {
    if (!_ctx.always_ready.empty()) {
        return 0;
    }
    // Starved: wake when the pause is over.
    int cap = -1;
    if (_starved) {
        auto pause = std::chrono::duration<double, std::milli>(_resume_at - clock::now()).count();
        cap = pause <= 0 ? 0 : int(std::ceil(pause));
    }
    if (_deadlines.empty()) {
        return cap;
    }
    auto left = std::chrono::duration<double, std::milli>(_deadlines.front().first - clock::now()).count();
    int ms = left <= 0 ? 0 : int(std::ceil(left));
    return cap < 0 ? ms : std::min(ms, cap);
}

bool server::run() {
    epoll_event events[64];
    while (_listener || !_conns.empty()) {
        int n = epoll_wait(_epoll.get(), events, 64, wait_timeout());
        if (n < 0 && errno != EINTR) {
            throw sys::errno_error("waiting for events");
        }
        for (int i = 0; i < n; ++i) {
            std::uint64_t tok = events[i].data.u64;
            if (tok == tok_signal) {
                signalfd_siginfo si;
                (void)::read(_signal.get(), &si, sizeof si);
                _listener.reset();  // SIGTERM: stop accepting, drain
                _listening = false;
            } else if (tok == tok_jobs) {
                handle_jobs();
            } else if (tok == tok_listener) {
                on_accept();
            } else if (auto it = _conns.find(tok >> 2); it != _conns.end()) {
                it->second->on_event(int(tok & 3), events[i].events);
                reap(tok >> 2);
            }
        }
        auto ready = std::exchange(_ctx.always_ready, {});
        for (std::uint64_t tok : ready) {
            if (auto it = _conns.find(tok >> 2); it != _conns.end()) {
                it->second->on_event(int(tok & 3), EPOLLIN | EPOLLOUT);
                reap(tok >> 2);
            }
        }
        expire_deadlines();
        resume_if_due();
    }
    return _all_clean;
}

}  // namespace moat::pipe
