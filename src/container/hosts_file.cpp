// See hosts_file.hpp.
#include "container/hosts_file.hpp"

#include "container/runtime.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/process.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>

namespace moat::container {

namespace {

void add_line(std::string& out, const std::optional<plan::address_pair>& pair, bool local, const std::string& names) {
    if (pair) {
        out += (local ? pair->local : pair->host).address.str() + "\t" + names + "\n";
    }
}

std::string names_of(const plan::container_plan& p) {
    return p.hostname == p.name || p.hostname.empty() ? p.name : p.hostname + " " + p.name;
}

// The file the init bound on /etc/hosts, opened through the container's own
// root so that nothing in it can point the write outside (hosts_file.hpp).
sys::unique_fd open_hosts(const state::container_record& rec) {
    sys::unique_fd root(::open(("/proc/" + std::to_string(rec.init.pid) + "/root").c_str(),
                               O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        throw sys::errno_error("opening the root of " + rec.name);
    }
    // The pid was checked before the open; a recycled pid is caught here.
    if (!sys::process_alive(rec.init)) {
        throw moat::error("its init is gone");
    }
    open_how how{};
    how.flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    sys::unique_fd fd(static_cast<int>(::syscall(SYS_openat2, root.get(), "run/moat/hosts", &how, sizeof how)));
    if (!fd && errno == ENOENT) {
        return fd;  // started by a moat before names on networks: it has the root's /etc/hosts
    }
    if (!fd) {
        throw sys::errno_error("opening /run/moat/hosts");
    }
    struct stat st {};
    sys::check(::fstat(fd.get(), &st), "inspecting /run/moat/hosts");
    if (!S_ISREG(st.st_mode) || st.st_uid != rec.uid_base.value_or(0)) {
        throw moat::error("/run/moat/hosts is no longer the file its init wrote");
    }
    return fd;
}

void rewrite(int fd, const std::string& text) {
    // In place: the same inode stays bound on /etc/hosts. Written before the
    // truncation, so a reader sees old or new lines, never an empty file.
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        sys::check(n, "writing /etc/hosts");
        done += static_cast<std::size_t>(n);
    }
    sys::check(::ftruncate(fd, static_cast<off_t>(text.size())), "truncating /etc/hosts");
}

// Everything but the other members' lines.
std::string head_of(const plan::container_plan& self) {
    std::string out = "# written by moat: this container, the host";
    out += self.network.empty() ? "\n" : " and the containers of network " + self.network + ", kept current by moat\n";
    out += "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    add_line(out, self.v4, true, names_of(self));
    add_line(out, self.v6, true, names_of(self));
    add_line(out, self.v4, false, hosts_host_names);
    add_line(out, self.v6, false, hosts_host_names);
    return out;
}

std::string member_lines(const plan::container_plan& m) {
    std::string out;
    add_line(out, m.v4, true, names_of(m));
    add_line(out, m.v6, true, names_of(m));
    return out;
}

}  // namespace

bool has_own_hosts(const plan::container_plan& p) {
    return !p.dns.empty() || (p.private_network && (p.v4 || p.v6));
}

std::string render_hosts(const plan::container_plan& self, const std::vector<const plan::container_plan*>& members) {
    auto out = head_of(self);
    for (const auto* m : members) {
        out += member_lines(*m);
    }
    return out;
}

void sync_hosts(const state::store& store, std::vector<std::string>& notes) {
    struct running_one {
        state::container_record rec;
        plan::container_plan plan;
        std::string lines;  // as a member of its network, rendered once
    };
    std::vector<running_one> all;
    for (auto& r : store.scan().records) {
        if (running(r)) {
            auto p = plan::plan_from_json(r.spec);
            all.push_back({std::move(r), std::move(p), {}});
        }
    }
    // A network of N members means N files of N lines each: each member's
    // lines are rendered once, not once per file (issue 17, N = 1000).
    std::map<std::string, std::vector<const running_one*>> networks;
    for (auto& one : all) {
        if (!one.plan.network.empty()) {
            one.lines = member_lines(one.plan);
            networks[one.plan.network].push_back(&one);
        }
    }
    static const std::vector<const running_one*> alone;
    for (const auto& self : all) {
        // A CNI attachment's /etc/hosts is its engine's.
        if (self.rec.origin == "cni" || !has_own_hosts(self.plan)) {
            continue;
        }
        auto text = head_of(self.plan);
        auto it = networks.find(self.plan.network);
        for (const auto* other : it == networks.end() ? alone : it->second) {
            if (other != &self) {
                text += other->lines;
            }
        }
        try {
            if (auto fd = open_hosts(self.rec)) {
                rewrite(fd.get(), text);
            }
        } catch (const std::exception& e) {
            notes.push_back(self.rec.name + ": /etc/hosts not updated: " + e.what());
        }
    }
}

}  // namespace moat::container
