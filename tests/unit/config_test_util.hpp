// Helpers shared by the config unit tests: a canonical dump of a model
// (without source locations, which differ between TOML and JSON) and quick
// access to the diagnostics of a failed load.
#pragma once

#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace moat::config::test {

inline std::string data_path(const std::string& name) {
    return std::string(MOAT_SOURCE_DIR) + "/tests/unit/data/config/" + name;
}

inline std::string opt(const std::optional<sys::ip_prefix>& p) { return p ? p->str() : "-"; }
inline std::string opt(const std::optional<std::string>& s) { return s ? "\"" + *s + "\"" : "-"; }

inline void dump_check(std::ostream& o, const std::optional<check_settings>& c) {
    std::string probes;
    for (const auto& p : c ? c->probes : std::vector<std::string>{}) probes += (probes.empty() ? "" : ",") + p;
    o << " check=" << (c ? (probes.empty() ? "-" : probes) + "/" + opt(c->on_failure) : "-");
}

inline void dump_container(std::ostream& o, const container& c) {
    o << "container " << c.name << " auto=" << c.auto_start << " priv=" << c.private_network << " h=" << opt(c.host_address)
      << " l=" << opt(c.local_address) << " h6=" << opt(c.host_address6) << " l6=" << opt(c.local_address6)
      << " br=" << opt(c.host_bridge) << " egress=" << (c.egress ? to_string(*c.egress) : "-") << " root=" << opt(c.root)
      << " eph=" << c.ephemeral << " users=" << to_string(c.users) << " tun=" << c.enable_tun
      << " logs=" << c.log_size << "x" << c.log_files;
    dump_check(o, c.check);
    o << "\n  caps:";
    for (const auto& cap : c.additional_capabilities) o << " " << cap;
    for (const auto& d : c.allowed_devices) o << "\n  device " << d.node << " " << d.modifier;
    o << "\n  dns:";
    for (const auto& d : c.dns) o << " " << d;
    o << "\n  fw tcp:";
    for (auto p : c.firewall.allowed_tcp_ports) o << " " << p;
    o << " udp:";
    for (auto p : c.firewall.allowed_udp_ports) o << " " << p;
    o << " host tcp:";
    for (auto p : c.firewall.allowed_host_tcp_ports) o << " " << p;
    o << " host udp:";
    for (auto p : c.firewall.allowed_host_udp_ports) o << " " << p;
    for (const auto& f : c.forward_ports)
        o << "\n  fwd " << f.protocol << " " << f.host_port << "->" << f.container_port << " on "
          << (f.host_address ? f.host_address->str() : "*");
    for (const auto& b : c.bind_mounts) o << "\n  mount " << b.mount_point << " <- " << b.host_path << " ro=" << b.read_only;
    for (const auto& s : c.services) {
        o << "\n  service " << s.name << " desc=\"" << s.description << "\" script=" << opt(s.script)
          << " restart=" << to_string(s.restart) << " exec:";
        for (const auto& a : s.exec) o << " [" << a << "]";
        o << " after:";
        for (const auto& a : s.after) o << " " << a;
        o << " env:";
        for (const auto& [k, v] : s.environment) o << " " << k << "=" << v;
    }
    o << "\n";
}

// Everything in the model except locations, one fact per token.
inline std::string dump(const model& m) {
    std::ostringstream o;
    for (const auto& c : m.containers) dump_container(o, c);
    for (const auto& n : m.networks) {
        o << "network " << n.name << " " << n.subnet.str() << " " << opt(n.subnet6)
          << " egress=" << (n.egress ? to_string(*n.egress) : "-") << " uplink=" << opt(n.uplink);
        dump_check(o, n.check);
        o << "\n";
    }
    for (const auto& t : m.tunnels)
        o << "tunnel " << t.name << " type=" << static_cast<int>(t.type) << " config=" << t.config_path
          << " ks=" << t.kill_switch << " ns=" << t.in_namespace << "\n";
    for (const auto& p : m.pipes)
        o << "pipe " << p.name << " mode=" << static_cast<int>(p.mode) << " " << p.source << " -> " << p.target
          << " key=" << p.key_file << " in=" << opt(p.container) << "\n";
    dump_check(o, m.check);
    return o.str();
}

// The diagnostics `f` throws as config_error; fails the test if it does not.
inline std::vector<diagnostic> diagnostics_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.diagnostics;
    }
    ADD_FAILURE() << "expected a config_error";
    return {};
}

inline std::vector<diagnostic> load_errors(const std::string& text, format f = format::toml, const std::string& file = "t.toml") {
    return diagnostics_of([&] { load_string(text, file, f); });
}

inline std::vector<diagnostic> validate_errors(const std::string& text, format f = format::toml) {
    model m = load_string(text, "t.toml", f);
    return diagnostics_of([&] { validate(m); });
}

// "line:col: message (hint: ...)" without the file name, for compact expectations.
inline std::string brief(const diagnostic& d) {
    std::string s = std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " + d.message;
    return d.hint.empty() ? s : s + " (hint: " + d.hint + ")";
}

inline std::vector<std::string> briefs(const std::vector<diagnostic>& ds) {
    std::vector<std::string> out;
    for (const auto& d : ds) out.push_back(brief(d));
    return out;
}

}  // namespace moat::config::test
