// A process title for the forks of the moat process that never exec: the
// containers' inits. They are copies of `moat up -f FILE`, and without this
// `ps` shows each as `moat up -f FILE`, so `up` looks hung or doubled.
//
// Theory of operation: /proc/<pid>/cmdline is read from the process's own
// memory between mm->arg_start and mm->arg_end, where the kernel put argv's
// strings at execve (contiguous, each NUL-terminated). Moving those bounds
// (prctl PR_SET_MM_ARG_START/END) needs CAP_SYS_RESOURCE in the initial user
// namespace, which an init cloned with CLONE_NEWUSER no longer has, so the
// title is written over argv's own strings instead (what setproctitle(3) and
// systemd's rename_process() do): the new text, NUL-separated words, the rest
// of the area zeroed. It must fit the original argv (`moat up -f x.toml` is
// at least 10 bytes); a longer title is cut. comm (ps -e, top, pgrep; 15
// bytes) is set with PR_SET_NAME. No exec, so a container start costs nothing.
#pragma once

namespace moat::sys {

// Call once from main() with main's own argv, before anything forks.
void remember_arguments(int argc, char** argv) noexcept;
// Sets comm to `comm` and the command line to `words` (NULL-terminated array
// of strings). Async-signal-safe: no allocation, usable between clone and the
// child's code. Does nothing to the command line if remember_arguments() was
// never called.
void set_title(const char* comm, const char* const* words) noexcept;

}  // namespace moat::sys
