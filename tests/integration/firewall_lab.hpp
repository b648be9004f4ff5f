// Lab for the firewall tests (LAB.md): throw-away network namespaces named
// moat-fw-<pid>-<n>, made with `ip netns add` and always deleted, veth links
// only between them, and small socket helpers that run on a thread moved into
// one namespace. The root network namespace is never modified.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "sys/unique_fd.hpp"

namespace moat::firewall::test {

struct command_result {
    int status = -1;
    std::string out;  // stdout and stderr
};

command_result run(const std::string& cmd);
std::string must(const std::string& cmd);  // throws with the output on failure

class netns {
public:
    netns();
    ~netns();
    netns(const netns&) = delete;
    netns& operator=(const netns&) = delete;

    const std::string& name() const { return _name; }
    // `ip netns exec <ns> sh -c <cmd>`.
    command_result exec(const std::string& cmd) const;
    std::string must_exec(const std::string& cmd) const;
    // Runs fn on a fresh thread inside this namespace; rethrows its exception.
    template <typename F>
    void in(F&& fn) const;

private:
    void enter_and_run(void (*call)(void*), void* arg) const;
    std::string _name;
};

template <typename F>
void netns::in(F&& fn) const {
    enter_and_run([](void* p) { (*static_cast<std::remove_reference_t<F>*>(p))(); }, &fn);
}

// A unique short tag for interface names (<= 15 bytes with a prefix of 5).
std::string short_id();

// Listening TCP socket on the any-address of `family`, made inside `ns`.
sys::unique_fd tcp_listen(const netns& ns, int family, int port);
// Whether a TCP connection from inside `ns` to addr:port completes in time;
// `source` (optional) is bound first, to send from a chosen address.
bool tcp_connects(const netns& ns, const std::string& addr, int port, const std::string& source = "",
                  int timeout_ms = 1500);
// Accepts one pending connection within the timeout and returns the peer's
// address ("" if none came).
std::string accept_peer(int listen_fd, int timeout_ms = 1500);

}  // namespace moat::firewall::test
