// Starting a child that execs: without copying the caller's address space.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>

#include <string>

namespace moat::sys {

// Runs fn(arg) in a child that shares the caller's memory (CLONE_VM |
// CLONE_VFORK, as posix_spawn does) on a stack of its own; the caller is
// suspended until the child execs or exits. A fork() copies the caller's
// page tables and then both sides pay a copy-on-write fault for each page
// they touch: about 1 ms per start on the benchmark machine for a process
// of moat's size (bench: docs/BENCHMARKS.md, issue 17).
//
// What fn may do follows from the sharing: system calls that change only
// the calling task (credentials, signal dispositions and mask, fds,
// namespaces, seccomp) are private to the child; every write to memory is
// the caller's too. So fn writes no global the caller relies on, frees what
// it allocates before exec, uses raw syscalls for setuid/setgid/setgroups
// (glibc's wrappers would signal the caller's other threads), and resets
// signal handlers to SIG_DFL before unblocking signals: a handler run in the
// child would run on the caller's data. All signals are blocked in the
// caller around the clone and the child starts with them all blocked.
// fn's return value is the child's exit status. Returns the child's pid, or
// -1 with errno set.
pid_t spawn_sharing_memory(int (*fn)(void*), void* arg) noexcept;

// False in the AddressSanitizer build, where spawn_sharing_memory() forks
// (spawn.cpp says why).
bool spawn_shares_memory() noexcept;

// Every disposition back to SIG_DFL, then an empty mask: what a child of
// spawn_sharing_memory() must do before anything else (see above), and what
// a started program expects to inherit from a shell.
void reset_signals() noexcept;

// posix_spawn()'s file actions and attributes, made and destroyed together.
// Each step throws errno_error(what) when glibc refuses it (ENOMEM, or a
// descriptor out of range): a child started without one of them would run
// with descriptors or signals its caller did not mean to give it.
class spawn_setup {
public:
    explicit spawn_setup(std::string what);
    ~spawn_setup();
    spawn_setup(const spawn_setup&) = delete;
    spawn_setup& operator=(const spawn_setup&) = delete;

    void open(int fd, const char* path, int flags);
    void dup2(int from, int to);
    void close_from(int lowest);
    void signal_mask(const sigset_t& mask);
    void default_signals(const sigset_t& signals);
    void own_process_group();

    // posix_spawn() with what was set; 0 or its error number.
    int spawn(pid_t& pid, const char* path, char* const argv[], char* const envp[]) noexcept;

private:
    void check(int rc) const;
    std::string _what;
    posix_spawn_file_actions_t _actions;
    posix_spawnattr_t _attr;
    short _flags = 0;
};

}  // namespace moat::sys
