// The one tree -> model mapper: PRODUCT.md's schema, key by key. Both TOML
// and JSON come through here, which is what makes their models and their
// error messages identical.
#include "config/value_reader.hpp"

#include "config/capabilities.hpp"
#include "config/log_limits.hpp"
#include "config/port_forwarding.hpp"
#include "config/names.hpp"
#include "config/nixos_keys.hpp"

#include <sys/socket.h>

namespace moat::config {

namespace {

class schema {
public:
    explicit schema(diagnostics& d, table_observer observe = {}) : _r(d, std::move(observe)) {}

    model run(const tree_node& root);

private:
    value_reader _r;
    std::vector<std::string> _notices;  // model::notices

    // Calls `each` for every valid-named member of the table `m` holds.
    template <typename F>
    void named_tables(const tree_member& m, std::string_view what, F each) {
        if (!_r.is(m.value, node_kind::table, m.key)) {
            return;
        }
        for (const auto& child : m.value.members) {
            if (child.value.kind != node_kind::null && _r.check_name(child, what)) {
                each(child);
            }
        }
    }

    container read_container(const tree_member& m);
    void read_container_network(container& c, std::vector<field>& fs);
    port_forward read_forward(const tree_node& n, const std::string& context);
    void read_bind_mounts(container& c, const tree_member& m);
    firewall_spec read_firewall(const tree_member& m, const std::string& context);
    std::optional<private_users> read_private_users(const tree_member& m);
    std::vector<std::string> read_capabilities(const tree_member& m);
    std::vector<allowed_device> read_devices(const tree_member& m, const std::string& context);
    service read_service(const tree_member& m, const std::string& context);
    network read_network(const tree_member& m);
    tunnel read_tunnel(const tree_member& m);
    pipe read_pipe(const tree_member& m);
    check_settings read_check(const tree_member& m, std::string_view context, bool top_level);
};

model schema::run(const tree_node& root) {
    model out;
    if (bare_containers_set(_r, root)) {
        return out;
    }
    _r.fields(root, "the top level", "the top level", {
        {"containers", [&](auto& m) { named_tables(m, "container", [&](auto& c) { out.containers.push_back(read_container(c)); }); }},
        {"networks", [&](auto& m) { named_tables(m, "network", [&](auto& n) { out.networks.push_back(read_network(n)); }); }},
        {"tunnels", [&](auto& m) { named_tables(m, "tunnel", [&](auto& t) { out.tunnels.push_back(read_tunnel(t)); }); }},
        {"pipes", [&](auto& m) { named_tables(m, "pipe", [&](auto& p) { out.pipes.push_back(read_pipe(p)); }); }},
        {"check", [&](auto& m) { out.check = read_check(m, "[check]", true); }},
    });
    out.notices = std::move(_notices);
    return out;
}

container schema::read_container(const tree_member& m) {
    container c;
    c.name = m.key;
    c.where = _r.at(m.key_pos);
    std::string context = "container " + quoted(c.name);
    std::vector<field> fs = {
        {"autoStart", [&](auto& f) { c.auto_start = _r.boolean(f).value_or(c.auto_start); }},
        {"privateNetwork", [&](auto& f) { c.private_network = _r.boolean(f).value_or(false); }},
        {"forwardPorts", [&](auto& f) {
             if (_r.is(f.value, node_kind::array, f.key, "an array of tables")) {
                 for (const auto& item : f.value.items) {
                     c.forward_ports.push_back(read_forward(item, context));
                 }
             }
         }},
        {"bindMounts", [&](auto& f) { read_bind_mounts(c, f); }},
        {"root", [&](auto& f) { c.root = _r.absolute_path(f.value, f.key); }},
        {"privateUsers", [&](auto& f) { c.users = read_private_users(f).value_or(c.users); }},
        {"enableTun", [&](auto& f) { c.enable_tun = _r.boolean(f).value_or(false); }},
        {"additionalCapabilities", [&](auto& f) { c.additional_capabilities = read_capabilities(f); }},
        {"allowedDevices", [&](auto& f) { c.allowed_devices = read_devices(f, context); }},
        {"ephemeral", [&](auto& f) { c.ephemeral = _r.boolean(f).value_or(false); }},
        {"logSize", [&](auto& f) { c.log_size = read_log_size(_r, f).value_or(c.log_size); }},
        {"logFiles", [&](auto& f) { c.log_files = read_log_files(_r, f).value_or(c.log_files); }},
        {"firewall", [&](auto& f) { c.firewall = read_firewall(f, context); }},
        {"services", [&](auto& f) {
             named_tables(f, "service", [&](auto& s) { c.services.push_back(read_service(s, context)); });
         }},
        {"check", [&](auto& f) { c.check = read_check(f, context, false); }},
    };
    read_container_network(c, fs);
    add_nixos_only_fields(_r, c, fs, _notices);
    _r.fields(m.value, m.key, context, fs, &c.keys);
    return c;
}

// The networking keys, split out to keep read_container readable.
void schema::read_container_network(container& c, std::vector<field>& fs) {
    std::vector<field> more = {
        {"hostAddress", [&](auto& f) { c.host_address = _r.prefix(f, AF_INET); }},
        {"localAddress", [&](auto& f) { c.local_address = _r.prefix(f, AF_INET); }},
        {"hostAddress6", [&](auto& f) { c.host_address6 = _r.prefix(f, AF_INET6); }},
        {"localAddress6", [&](auto& f) { c.local_address6 = _r.prefix(f, AF_INET6); }},
        {"hostBridge", [&](auto& f) { c.host_bridge = _r.string(f); }},
        {"egress", [&](auto& f) { c.egress = _r.egress(f); }},
        {"dns", [&](auto& f) {
             if (!_r.is(f.value, node_kind::array, f.key, "an array of IP addresses")) {
                 return;
             }
             for (const auto& item : f.value.items) {
                 auto s = _r.string(item, f.key);
                 if (s && !sys::ip_address::parse(*s)) {
                     _r.diag().add(item.pos, "dns: expected an IP address like 9.9.9.9 or 2620:fe::fe, got " + shown(item));
                 } else if (s) {
                     c.dns.push_back(*s);
                 }
             }
         }},
        {"accessibleFrom", [&](auto& f) { c.accessible_from = _r.prefixes(f); }},
    };
    fs.insert(fs.begin() + 2, more.begin(), more.end());
}

port_forward schema::read_forward(const tree_node& n, const std::string& context) {
    port_forward p;
    p.where = _r.at(n.pos);
    std::optional<std::uint16_t> container_port;
    _r.fields(n, "forwardPorts", "forwardPorts of " + context, {
        {"protocol", [&](auto& f) {
             p.protocol = _r.choice<std::string>(f, {{"tcp", "tcp"}, {"udp", "udp"}}).value_or(p.protocol);
         }},
        {"hostPort", [&](auto& f) { p.host_port = _r.port(f.value, f.key).value_or(0); }},
        {"containerPort", [&](auto& f) { container_port = _r.port(f.value, f.key); }},
        {"hostAddress", [&](auto& f) { p.host_address = _r.address(f); }},
        {"side", [&](auto& f) {
             p.side = _r.choice<forward_side>(
                 f, {{"uplink", forward_side::uplink}, {"tunnel", forward_side::tunnel}, {"both", forward_side::both}});
         }},
    }, &p.keys);
    if (n.kind == node_kind::table) {
        _r.require(n.pos, "forwardPorts of " + context, p.keys, {"hostPort"});
    }
    p.container_port = container_port.value_or(p.host_port);
    return p;
}

void schema::read_bind_mounts(container& c, const tree_member& m) {
    if (!_r.is(m.value, node_kind::table, m.key)) {
        return;
    }
    for (const auto& entry : m.value.members) {
        if (entry.value.kind == node_kind::null) {
            continue;
        }
        bind_mount b;
        b.mount_point = entry.key;
        b.where = _r.at(entry.key_pos);
        std::optional<std::string> host_path;
        bool has_mount_point = false;
        _r.fields(entry.value, entry.key, "bind mount " + quoted(entry.key) + " of container " + quoted(c.name), {
            {"hostPath", [&](auto& f) { host_path = _r.absolute_path(f.value, f.key); }},
            {"isReadOnly", [&](auto& f) { b.read_only = _r.boolean(f).value_or(true); }},
            // NixOS's bindMounts.<name>.mountPoint, which `nix eval --json` prints.
            {"mountPoint", [&](auto& f) {
                 has_mount_point = true;
                 if (auto p = _r.absolute_path(f.value, f.key)) {
                     b.mount_point = *p;
                 }
             }},
        });
        if (auto problem = path_problem(entry.key); !has_mount_point && problem) {
            _r.diag().add(entry.key_pos, "bindMounts: mount point " + quoted(entry.key) + ": " + *problem);
        }
        b.host_path = host_path.value_or(b.mount_point);
        c.bind_mounts.push_back(std::move(b));
    }
}

firewall_spec schema::read_firewall(const tree_member& m, const std::string& context) {
    firewall_spec fw;
    _r.fields(m.value, m.key, "firewall of " + context, {
        {"allowedTCPPorts", [&](auto& f) { fw.allowed_tcp_ports = _r.ports(f); }},
        {"allowedUDPPorts", [&](auto& f) { fw.allowed_udp_ports = _r.ports(f); }},
        {"allowedHostTCPPorts", [&](auto& f) { fw.allowed_host_tcp_ports = _r.ports(f); }},
        {"allowedHostUDPPorts", [&](auto& f) { fw.allowed_host_udp_ports = _r.ports(f); }},
    });
    return fw;
}

// NixOS: either (enum ["no" "identity" "pick"]) or (ints.u32), the base.
std::optional<private_users> schema::read_private_users(const tree_member& m) {
    constexpr std::string_view expected = "\"no\", \"pick\", \"identity\" or a uid base";
    if (m.value.kind == node_kind::integer) {
        // The range is base .. base+65535, and uid 2^32-1 means "no uid".
        if (m.value.integer < 0 || m.value.integer > 0xFFFFFFFFLL - 65536) {
            _r.diag().add(m.value.pos, m.key + ": expected a uid base 0-" + std::to_string(0xFFFFFFFFLL - 65536) +
                                           ", got " + shown(m.value));
            return std::nullopt;
        }
        if (m.value.integer == 0) {
            return private_users{users_mode::identity, 0};
        }
        return private_users{users_mode::base, static_cast<std::uint32_t>(m.value.integer)};
    }
    if (m.value.kind != node_kind::string) {
        _r.is(m.value, node_kind::string, m.key, expected);
        return std::nullopt;
    }
    return _r.choice<private_users>(m, {{"no", {users_mode::no, 0}},
                                        {"pick", {users_mode::pick, 0}},
                                        {"identity", {users_mode::identity, 0}}});
}

std::vector<std::string> schema::read_capabilities(const tree_member& m) {
    std::vector<std::string> out;
    if (!_r.is(m.value, node_kind::array, m.key, "an array of capability names like \"CAP_NET_ADMIN\"")) {
        return out;
    }
    for (const auto& item : m.value.items) {
        auto name = _r.string(item, m.key);
        if (!name) {
            continue;
        }
        if (capability_number(*name) < 0) {
            std::vector<std::string_view> names = capability_names();
            auto near = nearest_key(*name, names);
            _r.diag().add(item.pos, m.key + ": unknown capability " + shown(item) +
                                        (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
            continue;
        }
        out.push_back(*name);
    }
    return out;
}

std::vector<allowed_device> schema::read_devices(const tree_member& m, const std::string& context) {
    std::vector<allowed_device> out;
    if (!_r.is(m.value, node_kind::array, m.key, "an array of tables like { node = \"/dev/fuse\", modifier = \"rw\" }")) {
        return out;
    }
    for (const auto& item : m.value.items) {
        allowed_device d;
        d.where = _r.at(item.pos);
        key_locations keys;
        _r.fields(item, m.key, "allowedDevices of " + context, {
            {"node", [&](auto& f) {
                 auto p = _r.absolute_path(f.value, f.key);
                 if (p && p->rfind("/dev/", 0) != 0) {
                     _r.diag().add(f.value.pos, "node: expected a device node under /dev, got " + shown(f.value));
                 } else if (p) {
                     d.node = *p;
                 }
             }},
            {"modifier", [&](auto& f) {
                 auto s = _r.string(f);
                 if (s && (s->empty() || s->find_first_not_of("rwm") != std::string::npos)) {
                     _r.diag().add(f.value.pos, "modifier: expected letters of \"rwm\" (read, write, mknod), got " + shown(f.value));
                 } else if (s) {
                     d.modifier = *s;
                 }
             }},
        }, &keys);
        if (item.kind == node_kind::table) {
            _r.require(item.pos, "allowedDevices of " + context, keys, {"node"});
        }
        if (!d.node.empty()) {
            out.push_back(std::move(d));
        }
    }
    return out;
}

service schema::read_service(const tree_member& m, const std::string& context) {
    service s;
    s.name = m.key;
    s.where = _r.at(m.key_pos);
    std::string where = "service " + quoted(s.name) + " of " + context;
    _r.fields(m.value, m.key, where, {
        {"description", [&](auto& f) { s.description = _r.string(f).value_or(""); }},
        {"script", [&](auto& f) { s.script = _r.string(f); }},
        {"exec", [&](auto& f) {
             s.exec = _r.strings(f);
             if (f.value.kind == node_kind::array && (s.exec.empty() || s.exec.front().empty())) {
                 _r.diag().add(f.value.pos, "exec: expected a non-empty argv like [\"/usr/bin/env\", \"true\"]");
             }
         }},
        {"restart", [&](auto& f) {
             s.restart = _r.choice<restart_policy>(f, {{"no", restart_policy::no},
                                                       {"on-failure", restart_policy::on_failure},
                                                       {"always", restart_policy::always}})
                             .value_or(s.restart);
         }},
        {"after", [&](auto& f) { s.after = _r.strings(f); }},
        {"environment", [&](auto& f) {
             _r.is(f.value, node_kind::table, f.key);
             for (const auto& var : f.value.members) {
                 if (var.key.empty() || var.key.find_first_of("=") != std::string::npos || var.key.find('\0') != std::string::npos) {
                     _r.diag().add(var.key_pos, "environment: invalid variable name " + quoted(var.key));
                 } else if (auto v = _r.string(var)) {
                     s.environment[var.key] = *v;
                 }
             }
         }},
    }, &s.keys);
    if (m.value.kind == node_kind::table && s.keys.count("script") == s.keys.count("exec")) {
        _r.diag().add(m.key_pos, where + " needs exactly one of 'script' and 'exec'");
    }
    return s;
}

network schema::read_network(const tree_member& m) {
    network n;
    n.name = m.key;
    n.where = _r.at(m.key_pos);
    std::string context = "network " + quoted(n.name);
    if (!_r.fields(m.value, m.key, context, {
            {"subnet", [&](auto& f) { n.subnet = _r.prefix(f, AF_INET).value_or(n.subnet); }},
            {"subnet6", [&](auto& f) { n.subnet6 = _r.prefix(f, AF_INET6); }},
            {"egress", [&](auto& f) { n.egress = _r.egress(f); }},
            {"uplink", [&](auto& f) { n.uplink = _r.interface_name(f); }},
            {"check", [&](auto& f) { n.check = read_check(f, context, false); }},
        }, &n.keys)) {
        return n;
    }
    _r.require(m.key_pos, context, n.keys, {"subnet"});
    return n;
}

tunnel schema::read_tunnel(const tree_member& m) {
    tunnel t;
    t.name = m.key;
    t.where = _r.at(m.key_pos);
    std::string context = "tunnel " + quoted(t.name);
    if (!_r.fields(m.value, m.key, context, {
            {"type", [&](auto& f) {
                 t.type = _r.choice<tunnel_type>(f, {{"openvpn", tunnel_type::openvpn},
                                                     {"wireguard", tunnel_type::wireguard}})
                              .value_or(t.type);
             }},
            {"config", [&](auto& f) { t.config_path = _r.absolute_path(f.value, f.key).value_or(""); }},
            {"killSwitch", [&](auto& f) { t.kill_switch = _r.boolean(f).value_or(true); }},
            {"namespace", [&](auto& f) { t.in_namespace = _r.boolean(f).value_or(false); }},
            {"username", [&](auto& f) { t.username = _r.string(f).value_or(""); }},
            {"passwordFile", [&](auto& f) { t.password_file = _r.absolute_path(f.value, f.key).value_or(""); }},
            {"credentialsFile", [&](auto& f) { t.credentials_file = _r.absolute_path(f.value, f.key).value_or(""); }},
            {"healAfter", [&](auto& f) {
                 t.heal_after = static_cast<std::uint32_t>(
                     _r.integer(f, 0, 86400, "seconds 0-86400 (0 = never)").value_or(t.heal_after));
             }},
            {"portForwarding", [&](auto& f) { t.forwarding = read_port_forwarding(_r, f, context); }},
        }, &t.keys)) {
        return t;
    }
    _r.require(m.key_pos, context, t.keys, {"type", "config"});
    return t;
}

pipe schema::read_pipe(const tree_member& m) {
    pipe p;
    p.name = m.key;
    p.where = _r.at(m.key_pos);
    std::string context = "pipe " + quoted(p.name);
    if (!_r.fields(m.value, m.key, context, {
            {"mode", [&](auto& f) {
                 p.mode = _r.choice<pipe_mode>(f, {{"encrypt", pipe_mode::encrypt}, {"decrypt", pipe_mode::decrypt}})
                              .value_or(p.mode);
             }},
            {"source", [&](auto& f) { p.source = _r.endpoint(f).value_or(""); }},
            {"target", [&](auto& f) { p.target = _r.endpoint(f).value_or(""); }},
            {"keyFile", [&](auto& f) { p.key_file = _r.absolute_path(f.value, f.key).value_or(""); }},
            {"container", [&](auto& f) { p.container = _r.string(f); }},
        }, &p.keys)) {
        return p;
    }
    _r.require(m.key_pos, context, p.keys, {"mode", "source", "target", "keyFile"});
    return p;
}

check_settings schema::read_check(const tree_member& m, std::string_view context, bool top_level) {
    check_settings c;
    c.where = _r.at(m.key_pos);
    std::vector<field> fs = {{"probe", [&](auto& f) { c.probes = _r.probes(f); }}};
    if (top_level) {
        // Only the global [check] runs a command on failure; per-container
        // checks report to it.
        fs.push_back({"onFailure", [&](auto& f) { c.on_failure = _r.string(f); }});
    }
    _r.fields(m.value, m.key, top_level ? std::string(context) : "check of " + std::string(context), fs);
    return c;
}

}  // namespace

void observe_schema(const tree_node& root, const table_observer& observe) {
    diagnostics d("<schema>");
    schema(d, observe).run(root);
}

model map_model(const tree_node& root, const std::string& file_name) {
    diagnostics d(file_name);
    model m = schema(d).run(root);
    m.source_file = file_name;
    d.throw_if_any();
    return m;
}

}  // namespace moat::config
