// reject_unsupported(): moat implements its features in stages, and a file
// that asks for one this build lacks must fail loudly at load time (exit 2,
// nothing touched) instead of half-working; "egress = vpn" quietly ignored
// would be a leak.
#include "config/diagnostics.hpp"

namespace moat::config {

namespace {

constexpr const char* not_yet = ": not supported yet in this version of moat";

location key_or(const key_locations& keys, const std::string& key, const location& fallback) {
    auto it = keys.find(key);
    return it == keys.end() ? fallback : it->second;
}

void check_egress(diagnostics& d, const feature_set& f, const std::string& path, const std::optional<egress_spec>& e,
                  const key_locations& keys, const location& where) {
    if (!e) {
        return;
    }
    if ((e->kind == egress_kind::nat && !f.nat) || (e->kind == egress_kind::vpn && !f.vpn)) {
        d.add(key_or(keys, "egress", where), path + ".egress = \"" + to_string(*e) + "\"" + not_yet);
    }
}

void check_container(diagnostics& d, const feature_set& f, const container& c) {
    std::string path = "containers." + c.name;
    if (c.host_bridge && !f.networks) {
        d.add(key_or(c.keys, "hostBridge", c.where), path + ".hostBridge" + not_yet);
    }
    if (!c.forward_ports.empty() && !f.forward_ports) {
        d.add(key_or(c.keys, "forwardPorts", c.where), path + ".forwardPorts" + not_yet);
    }
    if (c.check && !c.check->probes.empty() && !f.check) {
        d.add(key_or(c.keys, "check", c.where), path + ".check.probe" + not_yet);
    }
    check_egress(d, f, path, c.egress, c.keys, c.where);
}

}  // namespace

void reject_unsupported(const model& m, const feature_set& f) {
    diagnostics d(m.source_file);
    for (const auto& c : m.containers) {
        check_container(d, f, c);
    }
    for (const auto& n : m.networks) {
        if (!f.networks) {
            d.add(n.where, "networks." + n.name + not_yet);
            continue;  // its keys would only repeat the same news
        }
        check_egress(d, f, "networks." + n.name, n.egress, n.keys, n.where);
        if (n.check && !n.check->probes.empty() && !f.check) {
            d.add(key_or(n.keys, "check", n.where), "networks." + n.name + ".check.probe" + not_yet);
        }
    }
    if (!f.tunnels) {
        for (const auto& t : m.tunnels) {
            d.add(t.where, "tunnels." + t.name + not_yet);
        }
    }
    if (!f.pipes) {
        for (const auto& p : m.pipes) {
            d.add(p.where, "pipes." + p.name + not_yet);
        }
    }
    if (m.check && !f.check) {
        d.add(m.check->where, std::string("check") + not_yet);
    } else if (m.check && m.check->on_failure && !f.check_on_failure) {
        d.add(m.check->where, std::string("check.onFailure") + not_yet);
    }
    d.throw_if_any();
}

}  // namespace moat::config
