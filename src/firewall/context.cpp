// context: libnftables in-process. Output and errors are buffered (not
// printed to stdout/stderr) so that callers can parse listings and turn nft's
// diagnostics into exception text.
#include <nftables/libnftables.h>

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <vector>

#include "firewall/firewall.hpp"
#include "sys/error.hpp"

namespace moat::firewall {
namespace {

std::string table_id() { return std::string(table_family) + " " + table_name; }

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

}  // namespace

// Closing a context is parked until the next one is made. Closing any
// NETLINK_NETFILTER socket makes the kernel wait for nf_tables' deferred
// destruction of what the last commit replaced when that is still pending
// (nft_rcv_nl_event() on NETLINK_URELEASE flushes the destroy work, which
// waits out an RCU grace period): 5-15 ms on the benchmark machine, spent
// right after the commit that every container start makes, before the
// init is handed its spec. Kept open, the socket is closed when the next
// context is made — by then the work has long run — or at exit. The
// parked context is only ever freed, never used again, so the namespace it
// was made in does not matter. A child cloned meanwhile (a container's
// init) inherits the pointer but not the right to free it: its copy of the
// socket was closed with its other descriptors, and the number may name
// something else there.
namespace {

struct parked_context {
    std::mutex lock;
    nft_ctx* ctx = nullptr;
    pid_t owner = 0;
};

parked_context& parked() {
    static parked_context p;
    return p;
}

// Parks `next` (may be null) and frees what was parked before, if this
// process parked it.
void park(nft_ctx* next) noexcept {
    auto& p = parked();
    nft_ctx* old = nullptr;
    {
        std::lock_guard hold(p.lock);
        if (p.owner == ::getpid()) {
            old = p.ctx;
        }
        p.ctx = next;
        p.owner = ::getpid();
    }
    if (old) {
        nft_ctx_free(old);
    }
}

}  // namespace

namespace {

// What the child of release_netfilter_sockets_at_exit() works with, in
// static storage: it shares the caller's memory (CLONE_VM), and the
// caller's stack and heap are torn down by its exit while the child runs.
// Written before the clone, only read after it.
struct releaser {
    static constexpr std::size_t max_fds = 64;
    int keep[max_fds];  // sorted: the netfilter sockets and `caller_gone`
    std::size_t count = 0;
    int caller_gone = -1;  // a pipe's read end: EOF once the caller's exit closed the write end
    alignas(64) unsigned char stack[16 * 1024];
};

releaser the_releaser;

// Runs on the_releaser.stack, in a process of its own that shares the
// caller's memory: only system calls, no allocation, no locks (the
// caller's exit may hold malloc's), nothing that could unwind.
int release_in_child(void*) {
    const auto& r = the_releaser;
    // Everything but the kept sockets, from 0 up: nothing of the caller's
    // outlives it here (its output pipe, its lock).
    unsigned from = 0;
    for (std::size_t i = 0; i < r.count; ++i) {
        auto fd = static_cast<unsigned>(r.keep[i]);
        if (fd > from) {
            ::close_range(from, fd - 1, 0);
        }
        from = fd + 1;
    }
    ::close_range(from, ~0U, 0);
    // The last close must be this one: while the caller still holds the
    // sockets, closing them here waits for nothing and the caller's exit
    // would pay. Its exit closes the pipe's write end, the only one left.
    char c;
    while (::read(r.caller_gone, &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);  // closes the sockets, now for the last time
}

}  // namespace

// The child is cloned with CLONE_VM rather than forked: a fork copies the
// page tables of every mapping the plugin has by now (libnftables and its
// libraries, the heap), 1 ms of the ADD it would be in; a clone sharing the
// memory copies only the descriptor table. The caller's exit_group() ends
// its own thread group only; the memory stays mapped while the child
// holds it, and the child's last close then runs on its own.
void release_netfilter_sockets_at_exit() noexcept {
    std::vector<int> keep;
    try {
        DIR* dir = ::opendir("/proc/self/fd");
        if (!dir) {
            return;
        }
        while (dirent* e = ::readdir(dir)) {
            int fd = std::atoi(e->d_name);
            int domain = 0, protocol = 0;
            socklen_t len = sizeof domain;
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == ::dirfd(dir) ||
                ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) {
                continue;
            }
            len = sizeof protocol;
            if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == NETLINK_NETFILTER) {
                keep.push_back(fd);
            }
        }
        ::closedir(dir);
    } catch (...) {
        return;
    }
    int gone[2];
    if (keep.empty() || keep.size() >= releaser::max_fds || ::pipe2(gone, O_CLOEXEC) < 0) {
        return;  // nothing to take, or more than ever seen: the exit waits, as before
    }
    keep.push_back(gone[0]);
    std::sort(keep.begin(), keep.end());
    std::copy(keep.begin(), keep.end(), the_releaser.keep);
    the_releaser.count = keep.size();
    the_releaser.caller_gone = gone[0];
    std::fflush(nullptr);
    // The stack grows down: its top is the end of the array.
    if (::clone(release_in_child, the_releaser.stack + sizeof the_releaser.stack, CLONE_VM | SIGCHLD, nullptr) > 0) {
        ::close(gone[0]);  // gone[1] stays open until the exit
    }
}

void context::deleter::operator()(nft_ctx* c) const noexcept { park(c); }

namespace {

// libnftables allocates a 128 KiB hash table for its cache and four for
// every table it parses or lists, each just above glibc's default mmap
// threshold: fresh pages from the kernel, faulted in bucket by bucket
// (about 10 us a page on the benchmark machine, 32 pages a table) and
// unmapped again when the context is freed. Served from the heap and kept
// there when freed, the next context in the same process (`run`'s second
// commit, after its command) reuses the pages the first one faulted in.
// Set in the process that commits, after any init was cloned from it.
void keep_nft_tables_on_the_heap() {
    static std::once_flag once;
    std::call_once(once, [] {
        ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
        ::mallopt(M_TRIM_THRESHOLD, 8 << 20);
    });
}

}  // namespace

context::context() : _ctx((keep_nft_tables_on_the_heap(), park(nullptr), nft_ctx_new(NFT_CTX_DEFAULT))) {
    if (!_ctx) {
        throw error("creating nftables context: out of memory");
    }
    if (nft_ctx_buffer_output(_ctx.get()) != 0 || nft_ctx_buffer_error(_ctx.get()) != 0) {
        throw error("creating nftables context: cannot buffer output");
    }
}

context::~context() = default;
context::context(context&&) noexcept = default;
context& context::operator=(context&&) noexcept = default;

void context::set_dry_run(bool on) { nft_ctx_set_dry_run(_ctx.get(), on); }

std::string context::run(const std::string& cmd) {
    int rc = nft_run_cmd_from_buffer(_ctx.get(), cmd.c_str());
    // Both buffers are drained on every run: a later call must not report
    // an earlier call's diagnostics.
    std::string out = nft_ctx_get_output_buffer(_ctx.get());
    std::string err = nft_ctx_get_error_buffer(_ctx.get());
    if (rc != 0) {
        throw error("nft: " + (err.empty() ? std::string("command failed") : trimmed(err)));
    }
    return out;
}

void context::apply(const std::string& script, const std::string& comment, bool create) {
    // "add" makes the "delete" valid when the table does not exist yet; all
    // of it travels in one netlink batch, which the kernel commits as one
    // transaction: the new table replaces the old one or nothing happens.
    // "create" instead fails the whole batch when the table exists.
    std::string text = std::string(create ? "create" : "add") + " table " + table_id() + "\ndelete table " +
                       table_id() + "\n";
    // The comment goes into the script's own "table inet moat {" block:
    // every table block nft parses costs four hash tables of 128 KiB it
    // initialises bucket by bucket (nftables' cache_init), 1.5-2 ms of page
    // faults per commit on a machine like ours. render() always opens with
    // that block; a script that does not is a caller's mistake, refused
    // before anything is sent.
    const std::string open = "table " + table_id() + " {\n";
    if (comment.empty()) {
        text += script;
    } else if (script.starts_with(open)) {
        text += open + "\tcomment \"" + comment + "\"\n" + script.substr(open.size());
    } else {
        throw moat::error("a table comment needs a script that opens with \"table " + table_id() +
                          " {\" (render()'s output)");
    }
    try {
        run(text);
    } catch (...) {
        add_context("applying nftables table " + table_id());
    }
}

void context::remove() {
    // nft 1.0.6 has no "destroy" (1.0.8+); add+delete in one batch is the
    // idempotent delete.
    try {
        run("add table " + table_id() + "\ndelete table " + table_id() + "\n");
    } catch (...) {
        add_context("removing nftables table " + table_id());
    }
}

std::optional<std::string> context::current() {
    try {
        std::istringstream tables(run(std::string("list tables ") + table_family));
        for (std::string line; std::getline(tables, line);) {
            if (trimmed(line) == "table " + table_id()) {
                return run("list table " + table_id());
            }
        }
        return std::nullopt;
    } catch (...) {
        add_context("listing nftables table " + table_id());
    }
}

}  // namespace moat::firewall
