// portForwarding of a tunnel: read and checked (port_forwarding.hpp).
#include "config/port_forwarding.hpp"

#include <algorithm>

namespace moat::config {

namespace {

void read_protocols(value_reader& r, const tree_member& f, port_forwarding& p) {
    std::vector<std::string> names;
    if (f.value.kind == node_kind::string) {
        names.push_back(f.value.text);
    } else if (r.is(f.value, node_kind::array, f.key, "\"tcp\", \"udp\" or [\"tcp\", \"udp\"]")) {
        names = r.strings(f);
    } else {
        return;
    }
    p.tcp = p.udp = false;
    for (const auto& n : names) {
        if (n == "tcp") {
            p.tcp = true;
        } else if (n == "udp") {
            p.udp = true;
        } else {
            r.diag().add(f.value.pos, std::string(f.key) + ": expected \"tcp\" or \"udp\", got \"" + n + "\"");
        }
    }
    if (!p.tcp && !p.udp) {
        r.diag().add(f.value.pos, std::string(f.key) + ": names no protocol", "write \"tcp\", \"udp\" or both");
    }
}

// lifetime: what the mapping is asked to live. The runner renews at half
// of what the server grants; below 10 s renewals would crowd the tunnel,
// above a day a dead client's mapping would linger at the provider.
std::optional<std::uint32_t> read_lifetime(value_reader& r, const tree_member& f) {
    constexpr std::string_view expected = "a number of seconds 10-86400";
    if (!r.is(f.value, node_kind::integer, f.key, expected)) {
        return std::nullopt;
    }
    if (f.value.integer < 10 || f.value.integer > 86400) {
        r.diag().add(f.value.pos, std::string(f.key) + ": expected " + std::string(expected) + ", got " + shown(f.value));
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(f.value.integer);
}

location at_key(const port_forwarding& p, const std::string& key) {
    auto it = p.keys.find(key);
    return it == p.keys.end() ? p.where : it->second;
}

// The tunnel a container is confined to: its own egress, else its network's.
std::string confined_to(const model& m, const container& c) {
    std::optional<egress_spec> e = c.egress;
    if (!e && c.host_bridge) {
        if (const auto* n = m.find_network(*c.host_bridge)) {
            e = n->egress;
        }
    }
    return e && e->kind == egress_kind::vpn ? e->tunnel : "";
}

}  // namespace

std::optional<port_forwarding> read_port_forwarding(value_reader& r, const tree_member& m, const std::string& context) {
    port_forwarding p;
    p.where = r.at(m.key_pos);
    std::string where = "portForwarding of " + context;
    if (!r.fields(m.value, m.key, where, {
            {"container", [&](auto& f) { p.container = r.string(f).value_or(""); }},
            {"gateway", [&](auto& f) { p.gateway = r.address(f); }},
            {"protocols", [&](auto& f) { read_protocols(r, f, p); }},
            {"lifetime", [&](auto& f) { p.lifetime = read_lifetime(r, f).value_or(p.lifetime); }},
            {"requestPort", [&](auto& f) { p.request_port = r.port(f.value, f.key); }},
            {"onChange", [&](auto& f) { p.on_change = r.string(f); }},
        }, &p.keys)) {
        return std::nullopt;
    }
    r.require(m.key_pos, where, p.keys, {"container", "gateway"});
    return p;
}

void check_port_forwarding(diagnostics& d, const model& m) {
    for (const auto& t : m.tunnels) {
        if (!t.forwarding || t.forwarding->container.empty()) {
            continue;
        }
        const auto& p = *t.forwarding;
        const auto* c = m.find_container(p.container);
        if (!c) {
            d.add(at_key(p, "container"),
                  "portForwarding of tunnel '" + t.name + "': there is no container '" + p.container + "'");
        } else if (auto to = confined_to(m, *c); to != t.name) {
            d.add(at_key(p, "container"),
                  "portForwarding of tunnel '" + t.name + "': container '" + p.container + "' is " +
                      (to.empty() ? "not confined to a tunnel" : "confined to tunnel '" + to + "'") +
                      ", so the forwarded port could not reach it",
                  "set egress = \"vpn:" + t.name + "\" on container '" + p.container + "'");
        }
        bool taken = c && std::any_of(c->services.begin(), c->services.end(),
                                      [](const service& s) { return s.name == "port-hook"; });
        if (p.on_change && taken) {
            d.add(at_key(p, "onChange"), "portForwarding of tunnel '" + t.name + "': onChange runs as the service "
                                         "'port-hook' of container '" + p.container + "', which already has one",
                  "rename that service");
        }
        if (p.gateway && !p.gateway->is_v4()) {
            d.add(at_key(p, "gateway"), "portForwarding of tunnel '" + t.name + "': gateway " + p.gateway->str() +
                                            ": NAT-PMP is IPv4 only (RFC 6886)",
                  "ProtonVPN's gateway is 10.2.0.1");
        }
    }
}

}  // namespace moat::config
