#include "plan/tunnel.hpp"

#include "plan/digest.hpp"
#include "plan/file_modes.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel_checks.hpp"
#include "plan/tunnel_files.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/hash.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

namespace moat::plan {

namespace {

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A name resolv.conf can search: labels of letters, digits, '-' and '_'
// (1-63 characters, no '-' at either end), at most 253 characters, a
// final dot allowed. Digits and dots alone are a mistyped address.
bool is_domain_name(const std::string& name) {
    std::string n = !name.empty() && name.back() == '.' ? name.substr(0, name.size() - 1) : name;
    if (n.empty() || n.size() > 253 || n.find_first_not_of("0123456789.") == std::string::npos) {
        return false;
    }
    std::stringstream in(n);
    for (std::string label; std::getline(in, label, '.');) {
        bool ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
        for (char c : label) {
            ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
        }
        if (!ok) {
            return false;
        }
    }
    return n.back() != '.';  // no empty label at the end ("a..")
}

std::vector<std::string> split_list(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream in(v);
    for (std::string item; std::getline(in, item, ',');) {
        if (auto t = trim(item); !t.empty()) {
            out.push_back(t);
        }
    }
    return out;
}

struct wg_reader {
    const std::string& file;
    int line = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw usage_error(file + ":" + std::to_string(line) + ": " + what);
    }
    sys::ip_prefix prefix(const std::string& text) const {
        auto p = sys::ip_prefix::parse(text);
        if (!p) {
            fail("\"" + text + "\" is not an address or prefix");
        }
        return *p;
    }
    int number(const std::string& text, int max) const {
        try {
            std::size_t used = 0;
            int n = std::stoi(text, &used);
            if (used == text.size() && n >= 0 && n <= max) {
                return n;
            }
        } catch (const std::exception&) {
        }
        fail("\"" + text + "\" is not a number from 0 to " + std::to_string(max));
    }
    void interface_key(wg_config& c, const std::string& key, const std::string& value) const {
        if (key == "privatekey") {
            c.private_key = value;
        } else if (key == "listenport") {
            c.listen_port = number(value, 65535);
        } else if (key == "address") {
            for (const auto& a : split_list(value)) {
                c.addresses.push_back(prefix(a));
                c.address_lines.push_back(line);
            }
        } else if (key == "mtu") {
            c.mtu = static_cast<unsigned>(number(value, 65535));
            if (*c.mtu < 576) {
                fail("MTU " + value + " is below 576, the least IPv4 hosts must accept");
            }
        } else if (key == "dns") {
            // As wg-quick reads it: addresses are resolvers, names search domains.
            for (const auto& a : split_list(value)) {
                if (sys::ip_address::parse(a)) {
                    c.dns.push_back(a);
                } else if (is_domain_name(a)) {
                    c.dns_search.push_back(a);
                } else {
                    fail("DNS \"" + a + "\" is neither an address nor a search domain");
                }
            }
        }
        // Table, PreUp/PostUp/PreDown/PostDown, SaveConfig, FwMark: wg-quick's
        // business; moat routes by its own table and never runs hook commands.
    }
    // "host:port" or "[v6]:port", the port 1-65535: found here, at its
    // line, rather than by the runner after everything is applied.
    void endpoint(const std::string& value) const {
        auto colon = value.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
            fail("Endpoint \"" + value + "\" is not host:port");
        }
        std::string host = value.substr(0, colon), port = value.substr(colon + 1);
        if (host.front() == '[' ? host.back() != ']' || !sys::ip_address::parse(host.substr(1, host.size() - 2))
                                : host.find(':') != std::string::npos) {
            fail("Endpoint \"" + value + "\": an IPv6 address goes in brackets, [address]:port");
        }
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) < 1 ||
            std::stoi(port) > 65535) {
            fail("Endpoint \"" + value + "\": port " + port + " is not a number from 1 to 65535");
        }
    }
    void peer_key(wg_peer& p, const std::string& key, const std::string& value) const {
        if (key == "publickey") {
            p.public_key = value;
        } else if (key == "presharedkey") {
            p.preshared_key = value;
        } else if (key == "endpoint") {
            endpoint(value);
            p.endpoint = value;
            p.endpoint_line = line;
        } else if (key == "allowedips") {
            for (const auto& a : split_list(value)) {
                p.allowed_ips.push_back(prefix(a));
            }
        } else if (key == "persistentkeepalive") {
            p.keepalive = value == "off" ? 0 : number(value, 65535);
        } else {
            fail("unknown [Peer] key \"" + key + "\"");
        }
    }
};

}  // namespace

wg_config parse_wg_quick(const std::string& text, const std::string& file) {
    wg_config c;
    wg_reader r{file};
    enum class section { none, interface, peer } in = section::none;
    std::stringstream lines{std::string(sys::without_bom(text))};  // a file saved on Windows
    for (std::string raw; std::getline(lines, raw);) {
        ++r.line;
        std::string l = trim(raw.substr(0, raw.find('#')));
        if (l.empty()) {
            continue;
        }
        std::string lower = l;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (lower == "[interface]" || lower == "[peer]") {
            in = lower == "[peer]" ? section::peer : section::interface;
            if (in == section::peer) {
                c.peers.emplace_back();
            }
            continue;
        }
        auto eq = l.find('=');
        if (eq == std::string::npos || in == section::none) {
            r.fail(in == section::none ? "expected [Interface] or [Peer]" : "expected key = value");
        }
        std::string key = trim(lower.substr(0, eq));
        std::string value = trim(l.substr(eq + 1));
        if (in == section::interface) {
            r.interface_key(c, key, value);
        } else {
            r.peer_key(c.peers.back(), key, value);
        }
    }
    r.line = 0;
    if (c.private_key.empty()) {
        throw usage_error(file + ": [Interface] has no PrivateKey");
    }
    if (c.addresses.empty()) {
        throw usage_error(file + ": [Interface] has no Address");
    }
    if (c.peers.empty()) {
        throw usage_error(file + ": no [Peer]");
    }
    for (const auto& p : c.peers) {
        if (p.public_key.empty()) {
            throw usage_error(file + ": a [Peer] has no PublicKey");
        }
    }
    // What the runner (tunnel/wireguard.cpp) would refuse only once it runs.
    auto key_ok = [](const std::string& k) {
        auto b64 = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/'; };
        return k.size() == 44 && k[43] == '=' && std::all_of(k.begin(), k.begin() + 43, b64);
    };
    const std::string not_a_key = " is not a base64 WireGuard key (44 characters ending in '=')";
    if (!key_ok(c.private_key)) {
        throw usage_error(file + ": [Interface] PrivateKey" + not_a_key);
    }
    for (const auto& p : c.peers) {
        if (!key_ok(p.public_key)) {
            throw usage_error(file + ": [Peer] PublicKey" + not_a_key);
        }
        if (!p.preshared_key.empty() && !key_ok(p.preshared_key)) {
            throw usage_error(file + ": [Peer] PresharedKey" + not_a_key);
        }
        auto colon = p.endpoint.rfind(':');
        if (!p.endpoint.empty() && (colon == std::string::npos || colon + 1 == p.endpoint.size())) {
            throw usage_error(file + ": [Peer] Endpoint " + p.endpoint + " has no port");
        }
    }
    return c;
}

std::string tunnel_device(const std::string& tunnel) { return link_name("tn-", tunnel); }

std::uint32_t tunnel_table(const std::string& tunnel) {
    return 0x6d740000u + static_cast<std::uint32_t>(sys::fnv1a(tunnel) & 0xffff);
}

tunnel_plan plan_tunnel(const config::tunnel& t, const host_secrets& secrets) {
    tunnel_plan p;
    p.name = t.name;
    p.type = t.type == config::tunnel_type::wireguard ? "wireguard" : "openvpn";
    p.config_path = t.config_path;
    p.device = tunnel_device(t.name);
    p.table = tunnel_table(t.name);
    p.kill_switch = t.kill_switch;
    p.heal_after = t.heal_after;
    auto it = t.keys.find("config");
    std::string at = (it != t.keys.end() ? it->second : t.where).str();
    std::string text;
    std::vector<std::string> notes;
    if (auto why = secrets.refusal(t.config_path); !why.empty()) {
        throw usage_error(at + ": tunnel '" + t.name + "': " + t.config_path + ": " + why);
    }
    try {
        text = sys::read_file(t.config_path);
    } catch (const std::exception& e) {
        throw usage_error(at + ": tunnel '" + t.name + "': cannot read " + t.config_path + ": " + e.what());
    }
    try {
        if (t.type == config::tunnel_type::wireguard) {
            auto wg = parse_wg_quick(text, t.config_path);
            warn_if_too_open(t.config_path, "the private key of tunnel '" + t.name + "'");
            // The daemon has no CAP_NET_BIND_SERVICE (src/tunnel/daemon.hpp).
            if (wg.listen_port && *wg.listen_port > 0 && *wg.listen_port < 1024) {
                throw usage_error(t.config_path + ": ListenPort " + std::to_string(*wg.listen_port) +
                                  ": moat runs wireguard-go without privileges, and it cannot bind a port below 1024");
            }
            p.addresses = wg.addresses;
            p.dns = wg.dns;
            p.dns_search = wg.dns_search;
            resolve_wg_endpoints(wg, p, notes);
        } else {
            bool credentials = !t.password_file.empty() || !t.credentials_file.empty();
            // First: a file the daemon cannot be given is refused before any name is looked up.
            p.files = detail::ovpn_files(text, t.config_path, credentials, secrets);
            check_ovpn_remotes(text, t.config_path, notes);
        }
        p.digests[t.config_path] = text_digest(text);
        for (const auto& f : p.files) {
            p.digests[f] = file_digest(f);
        }
    } catch (const usage_error& e) {
        throw usage_error(at + ": tunnel '" + t.name + "': " + e.what());
    } catch (const std::system_error& e) {  // a named file gone since it was checked
        throw usage_error(at + ": tunnel '" + t.name + "': " + e.what());
    }
    detail::plan_credentials(t, p, secrets);
    for (const auto& n : notes) {
        std::fprintf(stderr, "moat: note: tunnel '%s': %s\n", t.name.c_str(), n.c_str());
    }
    return p;
}

nlohmann::json to_json(const tunnel_plan& t) {
    std::vector<std::string> addrs;
    for (const auto& a : t.addresses) {
        addrs.push_back(a.str());
    }
    nlohmann::json j = {{"name", t.name}, {"type", t.type}, {"config", t.config_path}, {"device", t.device},
                        {"table", t.table}, {"kill_switch", t.kill_switch}, {"heal_after", t.heal_after},
                        {"addresses", addrs}, {"dns", t.dns}, {"files", t.files}, {"digests", t.digests},
                        {"username", t.username}, {"password_file", t.password_file},
                        {"credentials_file", t.credentials_file}};
    if (!t.endpoints.empty()) {  // absent otherwise: the plans of tunnels without names stay as they were
        j["endpoints"] = t.endpoints;
    }
    if (!t.dns_search.empty()) {  // likewise
        j["dns_search"] = t.dns_search;
    }
    if (t.forwarding) {
        j["forwarding"] = to_json(*t.forwarding);
    }
    return j;
}

tunnel_plan tunnel_from_json(const nlohmann::json& j) {
    tunnel_plan t;
    t.name = j.at("name");
    t.type = j.at("type");
    t.config_path = j.at("config");
    t.device = j.at("device");
    t.table = j.at("table");
    t.kill_switch = j.at("kill_switch");
    t.heal_after = j.value("heal_after", 120u);
    for (const auto& a : j.at("addresses")) {
        t.addresses.push_back(sys::ip_prefix::parse(a.get<std::string>()).value());
    }
    t.dns = j.at("dns").get<std::vector<std::string>>();
    t.dns_search = j.value("dns_search", std::vector<std::string>{});
    t.files = j.value("files", std::vector<std::string>{});
    t.digests = j.value("digests", std::map<std::string, std::string>{});
    t.username = j.value("username", "");
    t.password_file = j.value("password_file", "");
    t.credentials_file = j.value("credentials_file", "");
    t.endpoints = j.value("endpoints", std::map<std::string, std::string>{});
    if (j.contains("forwarding")) {
        t.forwarding = forwarding_from_json(j.at("forwarding"));
    }
    return t;
}

void refuse_unsupported(const config::tunnel& t) {
    const std::pair<const char*, bool> refused[] = {{"killSwitch = false", !t.kill_switch},
                                                     {"namespace = true", t.in_namespace}};
    for (const auto& [setting, set] : refused) {
        if (set) {
            std::string key = std::string(setting).substr(0, std::string(setting).find(' '));
            throw usage_error(t.keys.at(key).str() + ": tunnels." + t.name + "." + setting +
                              " is not supported yet in this version of moat");
        }
    }
}

std::vector<tunnel_plan> tunnels_served(const container_plan& tunnels_host) {
    std::vector<tunnel_plan> out;
    for (const auto& s : tunnels_host.services) {
        if (s.name.rfind("tunnel-", 0) == 0 && s.argv.size() >= 3) {
            out.push_back(tunnel_from_json(nlohmann::json::parse(s.argv[2])));
        }
    }
    return out;
}

std::vector<tunnel_plan> plan_tunnels(const config::model& m, std::vector<container_plan>& plans,
                                      const std::string& moat_exe, const std::set<std::string>& also_running,
                                      const std::string& state_dir) {
    // Looked up once, and only when a tunnel is planned.
    std::optional<host_secrets> found;
    auto secrets = [&]() -> const host_secrets& {
        return found ? *found : found.emplace("a tunnel daemon", m, state_dir);
    };
    std::map<std::string, tunnel_plan> used;
    for (const auto& name : also_running) {
        if (const auto* t = m.find_tunnel(name)) {
            auto it = used.emplace(name, plan_tunnel(*t, secrets())).first;
            it->second.forwarding = plan_forwarding(*t, state_dir);
        }
    }
    for (auto& p : plans) {
        if (p.egress.rfind("vpn:", 0) != 0) {
            continue;
        }
        std::string name = p.egress.substr(4);
        auto it = used.find(name);
        const auto& config = *m.find_tunnel(name);
        if (it == used.end()) {
            it = used.emplace(name, plan_tunnel(config, secrets())).first;
            it->second.forwarding = plan_forwarding(config, state_dir);
        }
        p.egress = "vpn";
        p.tunnel = name;
        p.tunnel_if = it->second.device;
        if (p.dns.empty()) {
            p.dns = it->second.dns;
            p.dns_search = it->second.dns_search;
        }
        if (p.dns.empty()) {
            const auto* c = m.find_container(p.name);
            throw usage_error((c ? c->where.str() + ": " : "") + "container '" + p.name + "' is confined to tunnel '" +
                              name + "', whose DNS server moat cannot know: set dns = [\"<the provider's resolver>\"]");
        }
        if (it->second.forwarding && it->second.forwarding->container == p.name) {
            prepare_forwarded_container(config, *it->second.forwarding, p, moat_exe);
        }
    }
    std::vector<tunnel_plan> out;
    if (used.empty()) {
        return out;
    }
    container_plan host;
    host.name = tunnels_container;
    host.hostname = "moat-tunnels";
    host.tunnel_host = true;
    host.users = "no";  // the runners route in the host's namespace: CAP_NET_ADMIN there
    add_binary_mount(host, moat_exe);
    for (auto& [name, t] : used) {
        service_plan s;
        s.name = "tunnel-" + name;
        s.argv = {moat_in_container, "__tunnel", to_json(t).dump()};
        s.restart = "always";
        host.services.push_back(std::move(s));
        // Read at each (re)start: a bind keeps it visible wherever it lives
        // (the container's /tmp and /run are its own), and so do the files
        // an OpenVPN config names and its credentials files, which the
        // runner copies for its daemon.
        std::vector<std::string> bind = t.files;
        for (const auto& path : {t.password_file, t.credentials_file}) {
            if (!path.empty()) {
                bind.push_back(path);
            }
        }
        for (const auto& path : bind) {
            bool bound = std::any_of(host.mounts.begin(), host.mounts.end(),
                                     [&](const mount_plan& m) { return m.mount_point == path; });
            if (!bound && path != t.config_path) {
                host.mounts.push_back({path, path, true});
            }
        }
        host.mounts.push_back({t.config_path, t.config_path, true});
        if (t.forwarding) {
            bind_forwarding_dir(host, *t.forwarding);
        }
        out.push_back(std::move(t));
    }
    plans.push_back(std::move(host));
    return out;
}

}  // namespace moat::plan
