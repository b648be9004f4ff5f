// expected_listing(): what table inet moat lists as when committed from the
// script host.json records.
//
// Theory of operation
// -------------------
// The drift check compares the kernel's listing of the table with the
// listing moat expects. A commit (on every CNI ADD and DEL) used to list the
// table right after and store that; at 100 pods the listing took 30 ms of
// each ADD. Now only the script is recorded, and `moat check` commits it
// itself, in a scratch network namespace, once per check:
//  * a child is forked and unshare(CLONE_NEWNET)s before anything else; if
//    that fails it exits with the error, so the script is never committed
//    in the namespace moat manages (where it would replace, or with
//    "create", fail against, the live table).
//  * the ingress hooks of the guard_ chains name the containers' veths;
//    before Linux 6.16 a chain cannot hook a device that does not exist, so
//    a bridge (any netdev will do: the listing only shows its name) is made
//    there under each such name first.
//  * libnftables and libnl are loaded in the parent first (the live
//    listing was read through libnftables; load_libnl() opens libnl), and
//    check has no other thread yet when it looks at the firewall, so the
//    child only mallocs and talks netlink: safe after fork().
//  * the listing comes back through a pipe; the namespace dies with the
//    child.
// The rules' text is nft's own rendering of the same script on the same
// kernel and nft, so it matches the live listing line by line, order of
// chains aside (firewall::canonical_listing()).
#include "check/expected_listing.hpp"

#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>

namespace moat::check::detail {
namespace {

// The devices the script's ingress hooks name.
std::set<std::string> hooked_devices(const std::string& script) {
    std::set<std::string> out;
    const std::string key = "hook ingress device \"";
    for (auto at = script.find(key); at != std::string::npos; at = script.find(key, at + 1)) {
        auto start = at + key.size();
        auto end = script.find('"', start);
        if (end != std::string::npos) {
            out.insert(script.substr(start, end - start));
        }
    }
    return out;
}

void write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

[[noreturn]] void child(int out, const std::string& script, const std::string& comment) {
    int status = 1;
    std::string text;
    try {
        if (::unshare(CLONE_NEWNET) != 0) {
            throw sys::errno_error("making a scratch network namespace");
        }
        auto nl = netlink::socket::open();
        for (const auto& dev : hooked_devices(script)) {
            nl.create_bridge(dev);
        }
        firewall::context nft;
        nft.apply(script, comment, true);
        text = nft.current().value_or("");
        status = 0;
    } catch (const std::exception& e) {
        text = e.what();
    }
    write_all(out, text);
    ::_exit(status);
}

}  // namespace

std::string expected_listing(const std::string& script, const std::string& comment) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw sys::errno_error("pipe for the expected firewall listing");
    }
    sys::unique_fd in(fds[0]), out(fds[1]);
    netlink::load_libnl();
    pid_t pid = ::fork();
    if (pid < 0) {
        throw sys::errno_error("forking to list the expected firewall");
    }
    if (pid == 0) {
        in.reset();
        child(out.get(), script, comment);
    }
    out.reset();
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(in.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw error("committing the recorded firewall in a scratch network namespace: " +
                    (text.empty() ? std::string("the child failed") : text));
    }
    return text;
}

}  // namespace moat::check::detail
