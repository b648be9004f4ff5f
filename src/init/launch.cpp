#include "init/launch.hpp"

#include "sys/error.hpp"
#include "sys/spawn.hpp"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

extern char** environ;

namespace moat::init::detail {

namespace {

void say(const char* s) noexcept {
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, s, ::strlen(s));
}

[[noreturn]] void fail(const char* name, const char* what, int err, int code) noexcept {
    say("moat-init: ");
    say(name);
    say(": ");
    say(what);
    say(": ");
    const char* desc = ::strerrordesc_np(err);
    say(desc ? desc : "unknown error");
    say("\n");
    ::_exit(code);
}

// `moat run`: the command gets its own process group (so init can signal
// it as a group) and, like a shell's job, the terminal's foreground, so ^C
// reaches it. tcsetpgrp from what is now a background group would stop us
// with SIGTTOU unless it is blocked; sys::reset_signals() unblocks it after.
void take_terminal() noexcept {
    pid_t before = ::getpgrp();
    ::setpgid(0, 0);
    if (::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == before) {
        sigset_t ttou;
        ::sigemptyset(&ttou);
        ::sigaddset(&ttou, SIGTTOU);
        ::sigprocmask(SIG_BLOCK, &ttou, nullptr);
        ::tcsetpgrp(STDIN_FILENO, ::getpid());
    }
}

// The child shares init's memory until it execs (sys/spawn.hpp): it writes
// nothing of init's but `environ` (below) and errno.
[[noreturn]] void child(const char* name, char* const* argv, char** envp, const launch_options& opts,
                        const std::function<int()>& prepare_child) noexcept {
    if (opts.own_terminal) {
        take_terminal();
    } else {
        ::setsid();  // own session and process group: kill(-pid) reaches all it starts
    }
    if (opts.stdin_fd >= 0 && ::dup2(opts.stdin_fd, STDIN_FILENO) < 0) {
        fail(name, "redirecting stdin", errno, 126);
    }
    if (opts.output_fd >= 0 &&
        (::dup2(opts.output_fd, STDOUT_FILENO) < 0 || ::dup2(opts.output_fd, STDERR_FILENO) < 0)) {
        fail(name, "redirecting output", errno, 126);
    }
    // init's blocked signals and, through exec, its ignored ones must not
    // reach a service: it starts with what a shell would give it.
    sys::reset_signals();
    if (prepare_child) {
        int err = 0;
        try {
            err = prepare_child();
        } catch (...) {
            err = EINVAL;
        }
        if (err != 0) {
            fail(name, "dropping privileges", err, 126);
        }
    }
    // execvp searches the PATH of `environ`, so the service's own PATH
    // decides, as it would in a shell started with that environment. This
    // is init's `environ` too: launch() puts it back once the child is gone
    // from init's memory (init never runs while the child shares it).
    environ = envp;
    ::execvp(argv[0], argv);
    int err = errno;
    fail(name, argv[0], err, err == ENOENT ? 127 : 126);
}

}  // namespace

command command_for(const service& svc, const std::map<std::string, std::string>& base) {
    command c;
    c.argv = svc.argv;
    std::map<std::string, std::string> env = base;
    for (const auto& [k, v] : svc.environment) {
        env[k] = v;
    }
    for (const auto& [k, v] : env) {
        c.env.push_back(k + "=" + v);
    }
    return c;
}

pid_t launch(const std::string& name, const command& cmd, const launch_options& opts,
             const std::function<int()>& prepare_child) {
    if (cmd.argv.empty()) {
        throw moat::usage_error("service " + name + " has no command");
    }
    // Everything the child touches is allocated here, before fork.
    std::vector<char*> argv;
    for (const auto& a : cmd.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : cmd.env) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);

    struct args {
        const char* name;
        char* const* argv;
        char** envp;
        const launch_options& opts;
        const std::function<int()>& prepare_child;
    } a{name.c_str(), argv.data(), envp.data(), opts, prepare_child};
    char** own_environ = environ;
    pid_t pid = sys::spawn_sharing_memory(
        [](void* p) -> int {
            auto* a = static_cast<args*>(p);
            child(a->name, a->argv, a->envp, a->opts, a->prepare_child);
        },
        &a);
    int err = errno;
    environ = own_environ;
    if (pid < 0) {
        throw sys::errno_error("starting service " + name, err);
    }
    return pid;
}

}  // namespace moat::init::detail
