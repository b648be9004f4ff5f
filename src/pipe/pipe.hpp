// moat pipe: a spiped-compatible encrypted pipe (wire protocol of spiped
// 1.6, checked against Debian's spiped 1.6.2 by the integration tests).
//
// Theory of operation. One thread runs an epoll loop over non-blocking
// sockets; each connection is a small state machine (connect the target,
// handshake, then two "pumps", one per direction). A pump reads a large
// chunk (up to 256 KiB), turns it into 1060-byte packets (or back) in a
// buffer shared by the whole loop and writes the result with one syscall, so
// syscalls are amortised over ~250 packets instead of one each. Only output
// the peer did not accept yet is copied into the connection, which keeps an
// idle connection down to its crypto state and socket descriptors. The
// Diffie-Hellman exponentiations run on a small worker pool (workers.hpp).
//
// Failure discipline: a bad tag, a bad length or a bad handshake closes both
// sockets of that connection at once, without delivering the packet; packet
// counters never wrap; keys are wiped when a connection ends, and the process
// refuses core dumps (PR_SET_DUMPABLE 0) because keys live in its memory.
//
// Files: crypto (packets, HMAC, PBKDF2), dh (group 14), handshake (state
// machine), address (spiped address syntax), workers (DH threads),
// connection (one connection's setup and events) and pump (its data phase),
// server (the loop), cli (spiped and spipe command lines, daemonizing,
// pidfile, -u), keygen.
#pragma once

#include <string>

namespace moat::pipe {

struct options {
    bool encrypt = true;       // -e (true) or -d (false)
    std::string source;        // -s
    std::string target;        // -t
    std::string key_file;      // -k ("-" = stdin)
    bool no_pfs = false;       // -f
    bool require_pfs = false;  // -g
    bool no_keepalive = false; // -j
    int max_conns = 100;       // -n, 0 = unlimited
    double timeout = 5.0;      // -o, seconds, for the target connect and the handshake
    double resolve_every = 60.0;  // -r seconds; negative = never (-R)
    bool retry_resolve = false;   // -D: keep retrying a target that does not resolve yet
};

// Full spiped 1.6 command line (argv[0] ignored); returns the exit code.
// `prog` names the program in messages: "moat pipe", or "spiped" when the
// binary was invoked through a symlink of that name.
int spiped_main(int argc, char** argv, const std::string& prog = "moat pipe");
// spipe: one connection on stdin/stdout.
int spipe_main(int argc, char** argv, const std::string& prog = "moat spipe");
// moat keygen FILE: 32 random bytes, mode 0600, never overwrites. 0 or 1.
int keygen_main(const std::string& path);
// Runs a pipe in this process, in the foreground, until SIGTERM (then it
// stops accepting and returns 0 once the open connections have finished).
// Throws moat::usage_error / moat::error for bad options or setup failures.
int run(const options& opts);

}  // namespace moat::pipe
