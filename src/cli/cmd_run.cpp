// moat run [--network host|private|none] [--rm] -- CMD: a one-off container
// whose exit status is moat's (docker run / systemd-nspawn semantics).
//
// --network private gives the container a veth pair like a declared
// container, addressed from 169.254.172.0/22 (link-local, so it cannot clash
// with a user's networks): one /30 per running one-off container, the host
// end first. --network none is loopback only (nspawn --private-network),
// host shares the host's network.
#include "cli/commands.hpp"
#include "container/relay.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/converge.hpp"
#include "converge/host.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace moat::cli {

namespace {

std::string random_name() {
    unsigned char b[4] = {};
    if (::getrandom(b, sizeof b, 0) != sizeof b) {
        throw sys::errno_error("getrandom");
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "run-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
    return buf;
}

plan::address_pair allocate_pair(const std::vector<state::container_record>& records) {
    std::set<std::string> used;
    for (const auto& r : records) {
        auto p = plan::plan_from_json(r.spec);
        if (p.v4) {
            used.insert(p.v4->host.address.str());
        }
    }
    auto base = *sys::ip_prefix::parse("169.254.172.0/22");
    for (std::uint64_t i = 0; i < 256; ++i) {
        auto host = *sys::nth_address(base, 4 * i + 1);
        if (!used.count(host.str())) {
            return {{host, 30}, {*sys::nth_address(base, 4 * i + 2), 30}, false};
        }
    }
    throw moat::error("no free address pair for a one-off container in 169.254.172.0/22");
}

// --private-users, with the config key's values (NixOS's privateUsers).
std::string users_of(const std::string& value, std::uint32_t& base) {
    if (value == "no" || value == "pick" || value == "identity") {
        return value;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || n > 0xFFFFFFFFULL - 65536) {
        throw usage_error("run --private-users: expected no, pick, identity or a uid base, got '" + value + "'");
    }
    if (n == 0) {
        return "identity";
    }
    base = static_cast<std::uint32_t>(n);
    return "base";
}

plan::container_plan plan_run(const run_args& a, const std::string& name,
                              const std::vector<state::container_record>& records) {
    plan::container_plan p;
    p.name = name;
    p.hostname = name;
    p.private_network = a.network != "host";
    if (a.network == "private") {
        p.host_if = plan::host_link_name(name);
        p.v4 = allocate_pair(records);
    }
    p.egress = a.egress;
    p.users = users_of(a.private_users, p.users_base);  // checked before anything was touched
    if (p.egress == "nat") {
        p.uplink = converge::default_uplink();
        if (p.uplink.empty()) {
            throw moat::error("run --egress nat: the host has no default route to NAT out of");
        }
    }
    return p;
}

std::vector<plan::container_plan> running_plans(const state::store& store, const std::string& except = "") {
    std::vector<plan::container_plan> out;
    for (const auto& r : store.containers()) {
        if (r.name != except && container::running(r)) {
            out.push_back(plan::plan_from_json(r.spec));
        }
    }
    return out;
}

}  // namespace

int cmd_run(const globals& g, const run_args& a) {
    if (a.egress != "none" && a.network != "private") {
        throw usage_error("run --egress " + a.egress + " needs --network private");
    }
    std::uint32_t base = 0;
    users_of(a.private_users, base);  // a bad value is exit 2 before the state directory exists
    std::string name = a.name.empty() ? random_name() : a.name;
    state::store store(g.state_dir);
    // The command's stdio: a pty of the container's own or three pipes,
    // relayed by moat; nothing of the caller's enters the container
    // (container/relay.hpp). From here on the relay holds the signals that
    // would end moat, and forwards them to the command.
    container::stdio_relay relay(container::stdio_relay::mode_for_stdin());
    container::start_options so;
    so.run_mode = true;
    so.command = a.command;
    so.origin = "run";
    if (relay.kind() == container::stdio_relay::mode::terminal) {
        so.terminal = relay.initial_terminal();
    } else {
        so.command_stdio = relay.child_stdio();
    }
    container::pending pend;
    {
        auto lock = store.lock();
        auto records = store.containers();
        if (store.has(name)) {  // intact or damaged
            throw usage_error("a container named '" + name + "' already exists");
        }
        // The firewall committed below cannot render a damaged container's
        // chains, and its veth would then be forwarded unfiltered: refused
        // before anything is touched (converge/damage.hpp).
        if (auto damaged = store.scan().damaged; !damaged.empty()) {
            const auto& d = damaged.front();
            throw moat::error(store.dir() + "/" + d.file + " is damaged (" + d.problem + "): `moat down " + d.name +
                              "` first");
        }
        auto p = plan_run(a, name, records);
        converge::claim_network_namespace(store, {{}, {p}});  // another instance's namespace: exit 2, nothing made
        pend = container::prepare(store, p, so);
        try {
            auto all = running_plans(store, name);
            all.push_back(p);
            converge::sync_firewall(store, all);
        } catch (...) {
            container::stop(pend.record, std::chrono::seconds(1));
            store.remove(name);
            throw;
        }
    }
    int rc = 1;
    bool failed = false;
    try {
        container::release(store, pend, so);
        if (pend.terminal) {
            relay.set_master(std::move(pend.terminal));
        }
        sys::unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pend.pid, 0)));
        if (!pidfd) {
            throw sys::errno_error("watching the container's init");
        }
        // The init ends with its command and exits with its status.
        rc = relay.run(pidfd.get());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: error: %s\n", e.what());
        while (::waitpid(pend.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        failed = true;
    }
    auto lock = store.lock();
    if (a.rm || failed) {
        container::stop(pend.record, std::chrono::seconds(2));
        converge::sync_firewall(store, running_plans(store, name));
        store.remove(name);
    } else {
        pend.record.status = "exited";
        store.save(pend.record);
        container::stop(pend.record, std::chrono::seconds(2));
        converge::sync_firewall(store, running_plans(store, name));
    }
    return rc;
}

}  // namespace moat::cli
