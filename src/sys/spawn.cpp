#include "sys/spawn.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "sys/error.hpp"

namespace moat::sys {

// AddressSanitizer cannot follow a child running on a stack it did not
// make while sharing its shadow memory (false reports, and warnings in the
// service's log), so the sanitizer build forks: the same child, without
// the sharing that is only a cost saving.
#if defined(__SANITIZE_ADDRESS__)
#define MOAT_SPAWN_FORKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOAT_SPAWN_FORKS 1
#endif
#endif

#ifdef MOAT_SPAWN_FORKS
bool spawn_shares_memory() noexcept { return false; }

pid_t spawn_sharing_memory(int (*fn)(void*), void* arg) noexcept {
    sigset_t all, before;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &before);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(fn(arg));
    }
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    errno = err;
    return pid;
}
#else
bool spawn_shares_memory() noexcept { return true; }

pid_t spawn_sharing_memory(int (*fn)(void*), void* arg) noexcept {
    // Enough for libcap, libseccomp and the dynamic loader's lazy binding,
    // with a guard page below: a stack overflow faults instead of writing
    // into the caller's memory.
    constexpr std::size_t stack_size = 256 * 1024;
    constexpr std::size_t guard = 4096;
    void* mem = ::mmap(nullptr, stack_size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
    if (mem == MAP_FAILED) {
        return -1;
    }
    ::mprotect(mem, guard, PROT_NONE);
    sigset_t all, before;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &before);
    pid_t pid = ::clone(fn, static_cast<char*>(mem) + guard + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    ::munmap(mem, stack_size + guard);
    errno = err;
    return pid;
}
#endif

void reset_signals() noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &dfl, nullptr);  // EINVAL for SIGKILL, SIGSTOP, RT internals: fine
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

spawn_setup::spawn_setup(std::string what) : _what(std::move(what)) {
    check(::posix_spawn_file_actions_init(&_actions));
    if (int rc = ::posix_spawnattr_init(&_attr); rc != 0) {
        ::posix_spawn_file_actions_destroy(&_actions);
        throw errno_error(_what, rc);
    }
}

spawn_setup::~spawn_setup() {
    ::posix_spawnattr_destroy(&_attr);
    ::posix_spawn_file_actions_destroy(&_actions);
}

void spawn_setup::check(int rc) const {
    if (rc != 0) {
        throw errno_error(_what, rc);
    }
}

void spawn_setup::open(int fd, const char* path, int flags) {
    check(::posix_spawn_file_actions_addopen(&_actions, fd, path, flags, 0));
}

void spawn_setup::dup2(int from, int to) { check(::posix_spawn_file_actions_adddup2(&_actions, from, to)); }

void spawn_setup::close_from(int lowest) { check(::posix_spawn_file_actions_addclosefrom_np(&_actions, lowest)); }

void spawn_setup::signal_mask(const sigset_t& mask) {
    check(::posix_spawnattr_setsigmask(&_attr, &mask));
    _flags |= POSIX_SPAWN_SETSIGMASK;
}

void spawn_setup::default_signals(const sigset_t& signals) {
    check(::posix_spawnattr_setsigdefault(&_attr, &signals));
    _flags |= POSIX_SPAWN_SETSIGDEF;
}

void spawn_setup::own_process_group() {
    check(::posix_spawnattr_setpgroup(&_attr, 0));
    _flags |= POSIX_SPAWN_SETPGROUP;
}

int spawn_setup::spawn(pid_t& pid, const char* path, char* const argv[], char* const envp[]) noexcept {
    if (int rc = ::posix_spawnattr_setflags(&_attr, _flags); rc != 0) {
        return rc;
    }
    return ::posix_spawn(&pid, path, &_actions, &_attr, argv, envp);
}

}  // namespace moat::sys
