// The socket between `moat` (the host side) and a container's init.
//
// One AF_UNIX stream socketpair, the init's end at fd 3 (spawn.hpp). The
// host side sends the init's specification as JSON, ended by a NUL byte,
// together with the descriptors it must build from — detached mount trees
// (open_tree(2)), the log directory, key files — in an SCM_RIGHTS message.
// The init builds its root and answers with one line, "ok" or "error:
// <why>", which may carry one descriptor back (the terminal of `moat run`,
// allocated inside the container). It starts nothing before the host side
// says "go" (one byte 'g', then the host shuts down its writing half).
//
// The go is separate so that an init can build its root while the host
// side still commits the firewall (`up`, `run`): the root takes the init
// milliseconds, and nothing in it runs a process of the container's; the
// services, the only things that could send a packet, wait for the go,
// which the host side sends once both kill-switch layers are in place.
// EOF before the spec or before the go means the host side died or rolled
// back, and the init exits without starting anything.
//
// Passing descriptors is what lets an init in a user namespace build its
// root at all: it no longer has the host's root privileges, so it could
// neither reach moat's state directory (0700) nor read a key file, and a
// bind mount of a host path made from inside would be one the container's
// root cannot own. The host side opens them; the init only attaches.
#pragma once

#include "sys/unique_fd.hpp"

#include <string>
#include <utility>
#include <vector>

namespace moat::container::handoff {

// At most this many descriptors travel with a spec (the kernel's
// SCM_MAX_FD is 253).
inline constexpr std::size_t max_fds = 250;

void send_spec(int sock, const std::string& json, const std::vector<int>& fds);

struct spec_message {
    std::string json;
    std::vector<sys::unique_fd> fds;
    bool go = false;  // the go came with the spec
};
// Reads up to the spec's NUL. Throws when the stream ends early or is malformed.
spec_message receive_spec(int sock);

// The go; the host side writes nothing after it. A failure means the init
// is gone, which its answer (or its absence) reports: nothing to throw.
void send_go(int sock) noexcept;
// Whether the go came (false: EOF, the host side is gone or rolled back).
bool receive_go(int sock) noexcept;

// One line back to the host side, with an optional descriptor.
void send_answer(int sock, const std::string& line, int fd = -1) noexcept;
// The answer line (without "\n"; empty when the init died first), and the
// descriptor that came with it.
std::pair<std::string, sys::unique_fd> receive_answer(int sock);

}  // namespace moat::container::handoff
