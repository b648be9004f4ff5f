// The fork server of `moat up`: a small, quiet copy of the CLI that clones
// the containers' inits on request (issue 17: memory per idle container).
//
// Theory of operation. An init is a fork that never execs (spawn.hpp), so
// it shares the forking process's pages copy-on-write. Forked from the CLI
// in the middle of `up`, each init kept its own copy of every heap page the
// CLI wrote after that fork (plans, JSON, netlink and nftables caches): in
// the smaps of an idle init, ~230 KiB of private heap out of ~350 KiB PSS.
// The server is forked once, first thing in `moat up` (cli/cmd_up.cpp),
// before the state lock is taken and the plans are loaded, and from then on
// writes nothing but its own stack: every init it clones shares the same
// small, frozen heap with all the others, so the CLI's later work costs the
// inits nothing. Early matters twice: a heap with the holes of the CLI's
// freed objects makes each init's own small allocations land in many
// shared pages, each of which it then copies (forked at the start of
// converge::up(), after the plans, an idle init still had 184 KiB of
// private heap; forked before them, 64 KiB).
//
// The server clones with CLONE_PARENT (clone(2)): the init is the CLI's
// child, exactly as when the CLI forked it itself — the CLI writes its id
// maps, wires its veth, sends its spec, and may wait for it; its pid cannot
// be reused before the CLI reaps it. Namespaces, cgroup (CLONE_INTO_CGROUP
// with the CLI's descriptor), stdio (/dev/null) and descriptors (the init's
// socket at fd 3, nothing else: spawn.cpp's close_range) are those of a
// direct spawn_init(). The server itself holds only /dev/null on 0-2 and
// its socket on 3 (the state lock and every other descriptor of the CLI are
// closed at once), and the descriptors of the request it is serving.
//
// One SOCK_SEQPACKET socketpair: a request is one message (flags, the
// container's name, and by SCM_RIGHTS the init's end of its socket and the
// cgroup's descriptor); the answer is the pid or the errno of clone3, so
// errors keep spawn_init()'s message. The server never outlives `up`: it
// exits at EOF on its socket (the destructor closes it, then reaps the
// server), and PR_SET_PDEATHSIG kills it with SIGKILL when the CLI dies
// (kill -9 of `moat up` at any point).
//
// `moat run` starts one container and forks its init directly
// (spawn_init): a server would cost it a second fork and gain nothing.
#pragma once

#include "container/spawn.hpp"
#include "sys/unique_fd.hpp"

#include <sys/types.h>

namespace moat::container {

class fork_server {
public:
    // Forks the server. The caller must be single-threaded.
    fork_server();
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

}  // namespace moat::container
