// The relay's loop; see relay.hpp for the theory of operation.
#include "container/relay.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

namespace moat::container {

namespace {

constexpr std::size_t buffer_size = 64 * 1024;
constexpr int forwarded[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGWINCH};

// glibc 2.36's <sys/pidfd.h> lacks extern "C"; the system call itself then.
void send_signal(int pidfd, int sig) noexcept {
    ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    sys::check(flags, "reading descriptor flags");
    sys::check(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), "making a relay descriptor non-blocking");
}

// moat's terminal in raw mode for the guard's lifetime: every key is a byte
// for the command's line discipline. TCSANOW on restore: the bytes already
// written were processed when written, and waiting for the output to drain
// could hang on a terminal nobody reads any more.
class raw_terminal {
public:
    explicit raw_terminal(int fd) : _fd(fd) {
        sys::check(::tcgetattr(fd, &_saved), "reading the terminal's settings");
        termios raw = _saved;
        ::cfmakeraw(&raw);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        sys::check(::tcsetattr(fd, TCSANOW, &raw), "putting the terminal in raw mode");
    }
    ~raw_terminal() { ::tcsetattr(_fd, TCSANOW, &_saved); }
    raw_terminal(const raw_terminal&) = delete;
    raw_terminal& operator=(const raw_terminal&) = delete;

private:
    int _fd;
    termios _saved{};
};

}  // namespace

// One direction of bytes: read from src into the buffer when it is empty,
// write the buffer to dst.
struct stdio_relay::stream {
    int src = -1;
    int dst = -1;
    bool from_command = false;       // the command's output: drained after its exit
    bool moat_dst = false;           // dst is moat's own, blocking, descriptor
    sys::unique_fd* owned_src = nullptr;  // the relay's fds to close when done with
    sys::unique_fd* owned_dst = nullptr;
    bool src_open = true;
    bool dst_open = true;
    // Not zeroed: a page of it costs its first touch only when bytes come
    // (three zeroed buffers were 48 page faults of every `moat run`).
    std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(buffer_size);
    std::size_t off = 0, len = 0, drained = 0;

    bool idle() const { return len == 0 && !src_open; }
    void close_src() {
        src_open = false;
        if (owned_src) {
            owned_src->reset();
        }
    }
    void close_dst() {
        dst_open = false;
        off = len = 0;
        if (owned_dst) {
            owned_dst->reset();
        }
    }
};

class stdio_relay::loop {
public:
    loop(stdio_relay& r, int pidfd) : _r(r), _pidfd(pidfd) {
        bool tty = r._mode == mode::terminal;
        int in = tty ? r._master.get() : r._to_command.get();
        _streams.push_back({.src = STDIN_FILENO, .dst = in, .owned_dst = tty ? nullptr : &r._to_command});
        if (tty) {
            _streams.push_back({.src = r._master.get(), .dst = STDOUT_FILENO, .from_command = true, .moat_dst = true});
        } else {
            _streams.push_back({.src = r._from_stdout.get(), .dst = STDOUT_FILENO, .from_command = true,
                                .moat_dst = true, .owned_src = &r._from_stdout});
            _streams.push_back({.src = r._from_stderr.get(), .dst = STDERR_FILENO, .from_command = true,
                                .moat_dst = true, .owned_src = &r._from_stderr});
        }
    }

    int run() {
        while (!finished()) {
            drain_exited();
            if (finished()) {
                break;
            }
            wait_and_dispatch();
        }
        return _status;
    }

private:
    bool finished() const {
        return _exited && std::all_of(_streams.begin(), _streams.end(), [](const stream& s) { return s.idle(); });
    }

    // After the exit the command's outputs are read without waiting: what
    // is there is taken (up to drain_limit), and an empty one is done.
    void drain_exited() {
        for (auto& s : _streams) {
            if (_exited && s.from_command && s.src_open && s.len == 0) {
                read_into(s);
                if (s.len == 0 || s.drained >= drain_limit) {
                    s.close_src();
                }
            }
        }
    }

    void wait_and_dispatch() {
        struct slot {
            stream* s;
            bool writing;
        };
        std::vector<pollfd> fds;
        std::vector<slot> slots;
        for (auto& s : _streams) {
            if (s.len > 0 && s.dst_open) {
                fds.push_back({s.dst, POLLOUT, 0});
                slots.push_back({&s, true});
            } else if (s.src_open && s.len == 0 && !(_exited && s.from_command)) {
                fds.push_back({s.src, POLLIN, 0});
                slots.push_back({&s, false});
            }
        }
        fds.push_back({_r._signals.get(), POLLIN, 0});
        if (!_exited) {
            fds.push_back({_pidfd, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) {
                return;
            }
            throw sys::errno_error("waiting for the command's input and output");
        }
        for (std::size_t i = 0; i < slots.size(); ++i) {
            if (fds[i].revents != 0) {
                slots[i].writing ? write_from(*slots[i].s) : read_into(*slots[i].s);
            }
        }
        if (fds[slots.size()].revents & POLLIN) {
            handle_signals();
        }
        if (!_exited && (fds.back().revents & POLLIN)) {
            reap();
        }
    }

    void read_into(stream& s) {
        ssize_t n = ::read(s.src, s.buf.get(), buffer_size);
        if (n > 0) {
            if (_exited) {
                s.drained += static_cast<std::size_t>(n);
            }
            if (s.dst_open) {  // otherwise the command's output is discarded (terminal gone)
                s.off = 0;
                s.len = static_cast<std::size_t>(n);
            }
            return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        // EOF, or EIO from a hung-up terminal on moat's side. Terminal mode
        // never closes the master on moat's EOF (no half-close on a terminal).
        s.close_src();
        if (!s.from_command && _r._mode == mode::pipes) {
            s.close_dst();
        }
    }

    void write_from(stream& s) {
        std::size_t chunk = s.len - s.off;
        if (s.moat_dst) {
            chunk = std::min<std::size_t>(chunk, PIPE_BUF);  // after POLLOUT a pipe takes it whole
        }
        ssize_t n = ::write(s.dst, s.buf.get() + s.off, chunk);
        if (n >= 0) {
            s.off += static_cast<std::size_t>(n);
            if (s.off == s.len) {
                s.off = s.len = 0;
                if (!s.src_open && !s.from_command && _r._mode == mode::pipes) {
                    s.close_dst();  // stdin's EOF, now that the last bytes are in
                }
            }
            return;
        }
        if (errno == EAGAIN || errno == EINTR) {
            return;
        }
        dst_broken(s);
    }

    // EPIPE (or EIO, ...) writing. Into the command: it does not read its
    // stdin any more, so moat's is left alone. Out of the command: a pipe
    // is closed so the command gets EPIPE as in a pipeline; the pty is
    // drained and discarded instead (the session would otherwise block on a
    // full terminal) and the command gets SIGHUP, as from a hung-up line.
    void dst_broken(stream& s) {
        s.close_dst();
        if (!s.from_command || _r._mode == mode::pipes) {
            s.close_src();
        } else if (!_exited) {
            send_signal(_pidfd, SIGHUP);
        }
    }

    void handle_signals() {
        signalfd_siginfo si{};
        while (::read(_r._signals.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            int sig = static_cast<int>(si.ssi_signo);
            if (_exited) {
                continue;
            }
            if (sig == SIGWINCH) {
                copy_window_size(_r._master.get());
            } else if (_r._mode == mode::terminal && (sig == SIGINT || sig == SIGQUIT)) {
                ::ioctl(_r._master.get(), TIOCSIG, sig);
            } else {
                send_signal(_pidfd, sig);
            }
        }
    }

    void reap() {
        siginfo_t si{};
        while (::waitid(P_PIDFD, static_cast<id_t>(_pidfd), &si, WEXITED) < 0) {
            if (errno != EINTR) {
                throw sys::errno_error("waiting for the command");
            }
        }
        _status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        _exited = true;
        for (auto& s : _streams) {
            if (!s.from_command) {  // nobody reads the command's stdin any more
                s.close_src();
                if (_r._mode == mode::pipes) {
                    s.close_dst();
                }
                s.off = s.len = 0;
            }
        }
    }

public:
    static void copy_window_size(int master) {
        winsize ws{};
        if (master >= 0 && ::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
            ::ioctl(master, TIOCSWINSZ, &ws);
        }
    }

    // On an exception the command must not outlive the relay unwatched.
    void kill_and_reap() noexcept {
        if (!_exited) {
            send_signal(_pidfd, SIGKILL);
            siginfo_t si{};
            while (::waitid(P_PIDFD, static_cast<id_t>(_pidfd), &si, WEXITED) < 0 && errno == EINTR) {
            }
            _exited = true;
        }
    }

private:
    stdio_relay& _r;
    int _pidfd;
    std::vector<stream> _streams;
    bool _exited = false;
    int _status = 0;
};

stdio_relay::mode stdio_relay::mode_for_stdin() noexcept {
    return ::isatty(STDIN_FILENO) ? mode::terminal : mode::pipes;
}

stdio_relay::stdio_relay(mode m) : _mode(m) {
    if (m == mode::terminal) {
        sys::check(::tcgetattr(STDIN_FILENO, &_initial.modes), "reading the terminal's settings");
        ::ioctl(STDIN_FILENO, TIOCGWINSZ, &_initial.size);  // a terminal without a size keeps 0x0
    } else {
        sys::unique_fd* relay_ends[] = {&_to_command, &_from_stdout, &_from_stderr};
        for (int i = 0; i < 3; ++i) {
            int p[2];
            sys::check(::pipe2(p, O_CLOEXEC), "creating a pipe for the command's stdio");
            // stdin: the child reads p[0]; stdout/stderr: the child writes p[1].
            *relay_ends[i] = sys::unique_fd(i == 0 ? p[1] : p[0]);
            _child[i] = sys::unique_fd(i == 0 ? p[0] : p[1]);
            set_nonblocking(relay_ends[i]->get());
        }
    }
    sigset_t set;
    sigemptyset(&set);
    for (int sig : forwarded) {
        sigaddset(&set, sig);
    }
    sys::check(::sigprocmask(SIG_BLOCK, &set, &_old_mask), "blocking signals");
    _signals = sys::unique_fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!_signals) {
        int err = errno;
        ::sigprocmask(SIG_SETMASK, &_old_mask, nullptr);
        throw sys::errno_error("creating a signalfd", err);
    }
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &_old_sigpipe);
}

stdio_relay::~stdio_relay() {
    // Signals that came after the loop's last read are taken off the
    // pending set before the mask is restored: a SIGTERM that ended the
    // command must not end moat a second time, half-way through its exit.
    _signals.reset();
    sigset_t pending;
    if (::sigpending(&pending) == 0) {
        for (int sig : forwarded) {
            if (sigismember(&pending, sig)) {
                sigset_t one;
                sigemptyset(&one);
                sigaddset(&one, sig);
                int got = 0;
                ::sigwait(&one, &got);
            }
        }
    }
    ::sigprocmask(SIG_SETMASK, &_old_mask, nullptr);
    ::sigaction(SIGPIPE, &_old_sigpipe, nullptr);
}

std::array<int, 3> stdio_relay::child_stdio() const noexcept {
    return {_child[0].get(), _child[1].get(), _child[2].get()};
}

void stdio_relay::set_master(sys::unique_fd master) {
    set_nonblocking(master.get());
    // A slave of the relay's own (through the master: no path in the
    // container is looked up): a master whose slaves are all closed reads
    // EIO and polls POLLHUP, so a command that closed its stdio and later
    // writes to /dev/tty would go unrelayed and block. The relay ends on the
    // command's exit, never on the master's state.
    _slave_hold = sys::unique_fd(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    _master = std::move(master);
}

int stdio_relay::run(int pidfd) {
    for (auto& fd : _child) {
        fd.reset();  // the command has its copies; ours would hide its EOF
    }
    if (_mode == mode::terminal && !_master) {
        throw moat::error("relaying a terminal without the master side of its pty");
    }
    loop l(*this, pidfd);
    try {
        std::optional<raw_terminal> raw;
        if (_mode == mode::terminal) {
            raw.emplace(STDIN_FILENO);
            loop::copy_window_size(_master.get());  // it may have changed since the start
        }
        int status = l.run();
        _slave_hold.reset();
        _master.reset();  // hangs up the pty for whatever still holds it
        return status;
    } catch (...) {
        l.kill_and_reap();
        throw;
    }
}

void stdio_relay::reset_child_signals() noexcept {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &dfl, nullptr);  // EINVAL for SIGKILL, SIGSTOP and glibc's own: fine
    }
}

}  // namespace moat::container
