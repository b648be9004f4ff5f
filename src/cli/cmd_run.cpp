// moat run [--network host|private|none] [--egress none|nat|vpn:NAME] [--rm]
// -- CMD: a one-off container whose exit status is moat's (docker run /
// systemd-nspawn semantics).
//
// --network private gives the container a veth pair like a declared
// container, addressed from 169.254.172.0/22 (link-local, so it cannot clash
// with a user's networks): one /30 per running one-off container, the host
// end first. --network none is loopback only (nspawn --private-network),
// host shares the host's network.
//
// --egress vpn:NAME (vopono's use): a `run` container has no file to
// declare a tunnel, so NAME must be a tunnel already running under the same
// state directory (`moat up -f FILE` runs it in `_tunnels`). The container
// is confined exactly as a declared one (plan/tunnel.hpp): its plan says
// egress "vpn" with the tunnel's device, so the one sync_firewall() before
// its release puts both kill-switch layers in place — the policy rule into
// the tunnel's table (converge/routing.hpp) and out_<name> letting new
// traffic out only into the tunnel — before the command's first
// instruction. Its DNS is --dns, else the tunnel's own (a wg-quick file's
// DNS). If the tunnel goes away while the command runs, both layers stay
// (the rule's table falls back to "unreachable", the chain has no device to
// pass to): the command loses its egress, never gains the uplink; `down
// -f FILE` keeps `_tunnels` while a container of another origin uses it
// (cmd_up.cpp).
#include "cli/commands.hpp"
#include "config/model.hpp"
#include "config/names.hpp"
#include "container/relay.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/converge.hpp"
#include "converge/host.hpp"
#include "plan/tunnel.hpp"
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
#include <exception>
#include <set>
#include <span>

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

// The egress of --egress, read as the file's `egress` key is (exit 2 on a
// bad value, before the state directory exists).
config::egress_spec egress_of(const run_args& a) {
    auto e = config::parse_egress(a.egress);
    if (!e) {
        throw usage_error("run --egress: " + std::string(config::egress_expected) + ", got \"" + a.egress + "\"");
    }
    if (e->kind == config::egress_kind::vpn) {
        if (auto problem = config::name_problem(e->tunnel)) {
            throw usage_error("run --egress " + a.egress + ": '" + e->tunnel + "' is not a valid tunnel name: " +
                              *problem);
        }
    }
    if (e->kind != config::egress_kind::none && a.network != "private") {
        throw usage_error("run --egress " + a.egress + " needs --network private");
    }
    for (const auto& d : a.dns) {
        if (!sys::ip_address::parse(d)) {
            throw usage_error("run --dns: \"" + d + "\" is not an IPv4 or IPv6 address");
        }
    }
    return *e;
}

// The tunnels `_tunnels` runs now under this state directory.
std::vector<plan::tunnel_plan> running_tunnels(const std::vector<state::container_record>& records,
                                               std::string* source = nullptr) {
    for (const auto& r : records) {
        if (r.name == plan::tunnels_container && container::running(r)) {
            if (source) {
                *source = r.source;
            }
            return plan::tunnels_served(plan::plan_from_json(r.spec));
        }
    }
    return {};
}

// --egress vpn:NAME: the running tunnel NAME, else exit 2 with what runs.
plan::tunnel_plan tunnel_for_run(const std::string& name, const std::vector<state::container_record>& records,
                                 const std::string& state_dir) {
    std::string source;
    auto tunnels = running_tunnels(records, &source);
    std::string names;
    for (auto& t : tunnels) {
        if (t.name == name) {
            return std::move(t);
        }
        names += (names.empty() ? "" : ", ") + t.name;
    }
    throw usage_error("run --egress vpn:" + name + ": no tunnel '" + name + "' is running under " + state_dir +
                      "; bring it up with `moat up -f " + (source.empty() ? std::string("FILE") : source) +
                      "` (a [tunnels." + name + "] and a container confined to it)" +
                      (names.empty() ? ", no tunnel runs now" : ", tunnels: " + names));
}

void confine(plan::container_plan& p, const plan::tunnel_plan& t, const run_args& a) {
    p.egress = "vpn";
    p.tunnel = t.name;
    p.tunnel_if = t.device;
    p.dns = a.dns.empty() ? t.dns : a.dns;
    p.dns_search = a.dns.empty() ? t.dns_search : std::vector<std::string>{};
    if (p.dns.empty()) {
        throw usage_error("run --egress vpn:" + t.name + ": tunnel '" + t.name + "' (" + t.type +
                          ") names no DNS server moat could use: pass --dns ADDRESS (the provider's resolver)");
    }
}

plan::container_plan plan_run(const run_args& a, const std::string& name,
                              const std::vector<state::container_record>& records, const std::string& state_dir) {
    plan::container_plan p;
    p.name = name;
    p.hostname = name;
    p.private_network = a.network != "host";
    if (a.network == "private") {
        p.host_if = plan::host_link_name(name);
        p.v4 = allocate_pair(records);
    }
    p.egress = a.egress;
    p.dns = a.dns;
    p.users = users_of(a.private_users, p.users_base);  // checked before anything was touched
    if (auto e = egress_of(a); e.kind == config::egress_kind::vpn) {
        confine(p, tunnel_for_run(e.tunnel, records, state_dir), a);
    }
    if (p.egress == "nat") {
        p.uplink = converge::default_uplink();
        if (p.uplink.empty()) {
            throw moat::error("run --egress nat: the host has no default route to NAT out of");
        }
    }
    return p;
}

std::vector<plan::container_plan> running_plans(std::span<const state::container_record> records,
                                               const std::string& except) {
    std::vector<plan::container_plan> out;
    for (const auto& r : records) {
        if (r.name != except && container::running(r)) {
            out.push_back(plan::plan_from_json(r.spec));
        }
    }
    return out;
}

std::vector<plan::container_plan> running_plans(const state::store& store, const std::string& except) {
    return running_plans(store.containers(), except);
}

}  // namespace

int cmd_run(const globals& g, const run_args& a) {
    egress_of(a);  // a bad value is exit 2 before the state directory exists
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
    // Only a container with a link of its own (`--network private`) is in
    // the firewall and the routing; `none` and `host` need no sync before
    // or after the command.
    bool has_link = false;
    {
        auto lock = store.lock();
        // One reading of the state directory under the lock serves every
        // check below.
        const auto listing = store.scan();
        const auto& records = listing.records;
        // A refusal below leaves no state directory a first `run` made.
        struct remove_if_refused {
            state::store& store;
            bool armed;
            ~remove_if_refused() {
                if (armed && std::uncaught_exceptions() > 0) {
                    store.remove_if_empty();
                }
            }
        } tidy{store, lock.created()};
        if (store.has(name)) {  // intact or damaged
            throw usage_error("a container named '" + name + "' already exists");
        }
        // The firewall committed below cannot render a damaged container's
        // chains, and its veth would then be forwarded unfiltered: refused
        // before anything is touched (converge/damage.hpp).
        if (!listing.damaged.empty()) {
            const auto& d = listing.damaged.front();
            throw moat::error(store.dir() + "/" + d.file + " is damaged (" + d.problem + "): `moat down " + d.name +
                              "` first");
        }
        auto p = plan_run(a, name, records, store.dir());
        has_link = !p.host_if.empty();
        // The tunnels' files stay hidden from it, as from declared containers.
        for (const auto& t : running_tunnels(records)) {
            so.masks.push_back(t.config_path);
            so.masks.insert(so.masks.end(), t.files.begin(), t.files.end());
        }
        converge::claim_network_namespace(store, {{}, {p}}, listing);  // another instance's namespace: exit 2, nothing made
        auto uid_bases = container::uid_bases_in(store, listing);
        so.uid_bases = &uid_bases;
        tidy.armed = false;
        pend = container::prepare(store, p, so);
        try {
            // The init builds its root while the firewall is committed; it
            // starts the command only at the go (container/handoff.hpp).
            container::send_spec(store, pend, so);
            // The reading above still holds: the lock is held, and the one
            // record made since is this container's.
            if (has_link) {
                auto all = running_plans(records, name);
                all.push_back(p);
                converge::sync_firewall(store, all);
            }
        } catch (...) {
            container::stop(pend.record, std::chrono::seconds(1));
            store.remove(name);
            throw;
        }
    }
    int rc = 1;
    bool failed = false;
    try {
        container::send_go(store, pend);
        container::await_ready(store, pend);
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
        if (has_link) {
            converge::sync_firewall(store, running_plans(store, name));
        }
        store.remove_with_logs(name);  // nothing reads them any more
    } else {
        pend.record.status = "exited";
        store.save(pend.record);
        container::stop(pend.record, std::chrono::seconds(2));
        if (has_link) {
            converge::sync_firewall(store, running_plans(store, name));
        }
    }
    return rc;
}

}  // namespace moat::cli
