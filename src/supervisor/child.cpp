#include "supervisor/child.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace moat::supervisor {

namespace {

[[noreturn]] void fail(int log_fd, const char* what, int err) {
    if (log_fd >= 0) {
        char buf[256];
        int n = std::snprintf(buf, sizeof buf, "moat: %s: %s\n", what, std::strerror(err));
        [[maybe_unused]] auto w = ::write(log_fd, buf, static_cast<size_t>(n));
    }
    ::_exit(err == ENOENT ? 127 : 126);
}

}  // namespace

pid_t start_service(const service& svc, const spec& s, const std::function<int()>& prepare_child) {
    auto env = s.base_environment;
    for (const auto& [k, v] : svc.environment) {
        env[k] = v;
    }
    std::vector<std::string> env_store;
    for (const auto& [k, v] : env) {
        env_store.push_back(k + "=" + v);
    }
    std::vector<char*> envp, argv;
    for (auto& e : env_store) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> args = svc.argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    sys::unique_fd log, devnull;
    if (!s.inherit_stdio) {
        log.reset(::openat(s.log_dir_fd, (svc.name + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
        devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!log || !devnull) {
            throw sys::errno_error("opening the log of service " + svc.name);
        }
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        throw sys::errno_error("starting service " + svc.name);
    }
    if (pid > 0) {
        return pid;
    }
    // The child: restore what the init changed for itself.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!s.inherit_stdio) {
        ::setsid();
        if (::dup2(devnull.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) {
            fail(log.get(), "redirecting output", errno);
        }
    }
    if (int err = prepare_child()) {
        fail(log ? 2 : -1, "dropping privileges", err);
    }
    // PATH for the lookup comes from the init's environment (set by run()).
    ::execvpe(argv[0], argv.data(), envp.data());
    fail(2, argv[0], errno);
}

}  // namespace moat::supervisor
