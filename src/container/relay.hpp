// The caller's side of a command's standard input, output and error.
//
// Theory of operation. A command run inside a container must never hold a
// descriptor of the operator's. Not the terminal: TIOCSTI on it types into
// the operator's shell once the command has returned (Linux allows it on
// one's controlling terminal unless dev.tty.legacy_tiocsti = 0, 6.2+), and
// any process of the container could reopen it through /proc/PID/fd/0. Nor
// anything else the caller had open (a directory fd is a way out of the
// container's root). So the command's stdio are objects moat makes, and moat
// copies bytes between them and its own stdio:
//
//  * Terminal mode (moat's stdin is a terminal): the command gets a pseudo-
//    terminal of the container's own devpts (open_pty_noexcept(), called
//    where the container's root is the root), the slave as its fds 0, 1, 2
//    and controlling terminal (attach_terminal_noexcept()). moat puts its own
//    terminal in raw mode, so ^C, ^Z and ^\ are bytes that the line
//    discipline inside turns into signals for the command's foreground job;
//    the window size is copied at start and on SIGWINCH. moat holds a slave
//    of its own (TIOCGPTPEER), so the master never reads EIO while the
//    command runs, whatever it does with its descriptors. moat's terminal is
//    restored on every way out of run(): normal end, exception, and the
//    SIGTERM or SIGHUP that ends the command. EOF on moat's side is not a
//    close: a terminal has no half-close, and closing the master would hang
//    up the command's whole session.
//  * Pipe mode: three pipes made by moat. The command's stdin is closed when
//    moat's reaches EOF (`echo hi | moat exec c -- cat` ends); stdout and
//    stderr stay apart. When moat's own stdout or stderr is closed early,
//    the matching pipe is closed too, so the command gets EPIPE/SIGPIPE as
//    in any pipeline; moat ignores SIGPIPE while relaying.
//
// One poll(2) loop (pipes, terminals and regular files — poll, because an
// epoll set refuses regular files, and there are at most six descriptors)
// over the streams, a signalfd and the command's pidfd; no timer. Signals
// to moat: SIGINT, SIGQUIT, SIGTERM and SIGHUP go to the command in pipe
// mode (pidfd_send_signal, so never to a recycled PID); in terminal mode
// SIGTERM and SIGHUP do, while SIGINT and SIGQUIT go to the pty's foreground
// process group (TIOCSIG), exactly as if they had been typed. moat's own
// stdin, stdout and stderr stay blocking (O_NONBLOCK would change the open
// file description the operator's shell shares); writes to them follow
// POLLOUT and are at most PIPE_BUF bytes, which a pipe then takes whole.
//
// The relay ends once the command has exited and what it wrote is drained:
// after the exit each of its outputs is read until it is empty (at most
// drain_limit bytes), not until EOF, because a background process may hold
// the pty or the pipe forever. moat then closes its ends: such a process
// writes into a hung-up terminal or a pipe without reader.
//
// Life cycle, for any caller (`moat exec`, `moat run`):
//   stdio_relay relay(stdio_relay::mode_for_stdin());  // blocks signals; pipes
//   fork/clone; in the command's process, before execve:
//     stdio_relay::reset_child_signals();
//     pipe mode:     dup2(relay.child_stdio()[i], i) for i = 0, 1, 2; setsid()
//     terminal mode: open_pty_noexcept(relay.initial_terminal(), ...) where the
//                    container's /dev is /dev; attach_terminal_noexcept(slave);
//                    the master comes back to the caller (SCM_RIGHTS)
//   relay.set_master(master);             // terminal mode
//   int status = relay.run(pidfd);        // reaps the command
#pragma once

#include "sys/unique_fd.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <array>
#include <cstddef>

namespace moat::container {

// What the command's terminal starts with: the caller's modes (erase
// character, flow control, ...) and window size, as ssh hands them on.
struct terminal_settings {
    termios modes{};
    winsize size{};
};

class stdio_relay {
public:
    enum class mode { terminal, pipes };

    // After the command's exit, at most this much more is read from each
    // of its outputs: a background writer must not keep moat alive.
    static constexpr std::size_t drain_limit = 1 << 20;

    // Terminal when moat's stdin is a terminal.
    static mode mode_for_stdin() noexcept;

    // Blocks SIGINT, SIGQUIT, SIGTERM, SIGHUP and SIGWINCH into a signalfd
    // from now on (so a signal between the child's creation and run() is
    // forwarded, not fatal) and ignores SIGPIPE. Pipe mode makes the three
    // pipes; terminal mode records the caller's terminal settings.
    explicit stdio_relay(mode m);
    // Restores the signal mask and SIGPIPE's disposition.
    ~stdio_relay();
    stdio_relay(const stdio_relay&) = delete;
    stdio_relay& operator=(const stdio_relay&) = delete;

    mode kind() const noexcept { return _mode; }

    // Pipe mode: the command's stdin (a read end), stdout and stderr (write
    // ends), blocking and O_CLOEXEC: dup2 them onto 0, 1, 2 in the child.
    std::array<int, 3> child_stdio() const noexcept;
    // Terminal mode: what the command's pty starts with.
    const terminal_settings& initial_terminal() const noexcept { return _initial; }
    // Terminal mode: the master side of the command's pty, from wherever it
    // was allocated.
    void set_master(sys::unique_fd master);

    // Closes the caller's copies of the child's ends, relays until the
    // command (`pidfd`, a child of the caller) has exited and its output is
    // drained, and reaps it. Returns its exit status, 128 + N for signal N.
    // If relaying fails, the command is killed and reaped before the
    // exception leaves.
    int run(int pidfd);

    // For the command's process, before execve: an empty signal mask and
    // default dispositions. An exec'd program inherits both the mask (the
    // relay's blocked signals) and ignored signals (SIGPIPE). Async-signal-safe.
    static void reset_child_signals() noexcept;

private:
    struct stream;
    class loop;

    mode _mode;
    terminal_settings _initial;
    sys::unique_fd _master, _slave_hold;
    // Pipe mode: the relay's ends and the child's.
    sys::unique_fd _to_command, _from_stdout, _from_stderr;
    std::array<sys::unique_fd, 3> _child;
    sys::unique_fd _signals;
    sigset_t _old_mask{};
    struct sigaction _old_sigpipe{};
};

// Where the container's root is the current root: opens /dev/pts/ptmx (the
// container's own devpts instance), checks it is a devpts pty master,
// unlocks it and opens the slave through the master (TIOCGPTPEER, Linux
// 4.13: no path lookup the container could redirect), then applies
// `settings`. Both ends O_CLOEXEC and O_NOCTTY. Returns 0 or an errno
// value; no allocation, for use between fork and execve.
int open_pty_noexcept(const terminal_settings& settings, int& master, int& slave) noexcept;

// In the command's process: a new session (unless it leads one already)
// whose controlling terminal is `slave`, which becomes fds 0, 1 and 2.
// Returns 0 or an errno value.
int attach_terminal_noexcept(int slave) noexcept;

}  // namespace moat::container
