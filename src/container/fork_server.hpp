// The fork server of `moat up`: a small, quiet moat process that clones
// the containers' inits on request (issue 17: memory per idle container).
//
// Theory of operation. An init is a fork that never execs (spawn.hpp), so
// it shares the forking process's pages copy-on-write. Forked from the CLI
// in the middle of `up`, each init kept its own copy of every heap page the
// CLI wrote after that fork (plans, JSON, netlink and nftables caches): in
// the smaps of an idle init, ~230 KiB of private heap out of ~350 KiB PSS.
// The server is started once, first thing in `moat up` (cli/cmd_up.cpp),
// and from then on writes nothing but its own stack: every init it clones
// shares the same small, frozen heap with all the others, so the CLI's
// later work costs the inits nothing.
//
// It is the moat binary executed again (/proc/self/exe, `moat-forks
// __fork-server <CLI pid>`, main.cpp's first check), by posix_spawn: the
// CLI's pages are never shared with it. A plain fork() made every page the
// CLI then wrote (all of `up`'s work) a copy-on-write fault, with a TLB
// flush each, in the CLI itself; and the server's heap is now a fresh
// process's, smaller than the CLI's at any point.
//
// The server clones with CLONE_PARENT (clone(2)): the init is the CLI's
// child, exactly as when the CLI forked it itself — the CLI writes its id
// maps, wires its veth, sends its spec, and may wait for it; its pid cannot
// be reused before the CLI reaps it. Namespaces, cgroup (CLONE_INTO_CGROUP
// with the CLI's descriptor), stdio (/dev/null) and descriptors (the init's
// socket at fd 3, nothing else: spawn.cpp's close_range) are those of a
// direct spawn_init(). The server itself holds only /dev/null on 0-2 and
// its socket on 3 (the state lock and every other descriptor of the CLI are
// closed by the spawn), and the descriptors of the request it is serving.
//
// One SOCK_SEQPACKET socketpair: a request is one message (flags, the
// container's name, and by SCM_RIGHTS the init's end of its socket and the
// cgroup's descriptor); the answer is the pid or the errno of clone3, so
// errors keep spawn_init()'s message. The server never outlives `up`: it
// exits at EOF on its socket (the destructor closes it, then reaps the
// server), and PR_SET_PDEATHSIG kills it with SIGKILL when the CLI dies
// (kill -9 of `moat up` at any point); it checks that its parent is the
// CLI its arguments name, and that fd 3 is a SOCK_SEQPACKET socket, before
// it serves anything.
//
// `moat run` starts one container and forks its init directly
// (spawn_init): a server would cost it a second process and gain nothing.
#pragma once

#include "container/spawn.hpp"
#include "sys/unique_fd.hpp"

#include <sys/types.h>

namespace moat::container {

class fork_server {
public:
    // Starts the server: `exe`, a moat binary (tests name the one they
    // built). The caller must be single-threaded.
    explicit fork_server(const char* exe = "/proc/self/exe");
    ~fork_server();
    fork_server(const fork_server&) = delete;
    fork_server& operator=(const fork_server&) = delete;

    // spawn_init() done by the server. options.stdio must be unset (the
    // init's stdio is /dev/null).
    spawned spawn(const spawn_options& options);
    pid_t pid() const { return _pid; }

private:
    pid_t _pid = -1;
    sys::unique_fd _sock;
};

// The argument that makes main() the server, right after its own title.
inline constexpr char fork_server_argument[] = "__fork-server";
// main()'s server: serves requests on fd 3 until EOF; 1 when this process
// was not started by fork_server (its parent or fd 3 not what it says).
int fork_server_main(int argc, char** argv) noexcept;

}  // namespace moat::container
