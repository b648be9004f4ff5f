// Why a container is recreated; see changes.hpp.
#include "plan/changes.hpp"

#include "plan/digest.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace moat::plan {

namespace {

// Recorded key -> configuration key. Keys listed with "" are derived from
// others (the container's name, an internal flag) and never named alone;
// a key not listed is named as recorded.
const std::map<std::string, std::string>& key_names() {
    static const std::map<std::string, std::string> names = {
        {"name", ""}, {"hostname", ""}, {"tunnel_host", ""}, {"host_if", "privateNetwork"},
        {"private_network", "privateNetwork"}, {"network", "hostBridge"}, {"bridge_if", "hostBridge"},
        {"v4", "hostAddress/localAddress"}, {"v6", "hostAddress6/localAddress6"}, {"egress", "egress"},
        {"tunnel", "egress"}, {"tunnel_if", "egress"}, {"forwards", "forwardPorts"},
        {"accessible_from", "accessibleFrom"}, {"dns", "dns"}, {"dns_search", "dns"},
        {"tcp_ports", "firewall.allowedTCPPorts"}, {"udp_ports", "firewall.allowedUDPPorts"}, {"host_tcp_ports", "firewall.allowedHostTCPPorts"},
        {"host_udp_ports", "firewall.allowedHostUDPPorts"}, {"users", "privateUsers"},
        {"users_base", "privateUsers"}, {"capabilities", "additionalCapabilities"}, {"devices", "allowedDevices"},
        {"root", "root"}, {"root_read_only", "root"}, {"ephemeral", "ephemeral"}, {"mounts", "bindMounts"},
        {"secrets", "keyFile"}, {"log_size", "logSize"}, {"log_files", "logFiles"},
    };
    return names;
}

// Not in the hash (plan.cpp): a change there recreates nothing.
bool unhashed(const std::string& key) { return key == "uplink" || key == "probe" || key == "on_failure"; }

void add(std::vector<std::string>& out, const std::string& what) {
    if (!what.empty() && std::find(out.begin(), out.end(), what) == out.end()) {
        out.push_back(what);
    }
}

// Keys of two objects whose values differ (present in one only included).
std::vector<std::string> differing_keys(const nlohmann::json& a, const nlohmann::json& b) {
    std::set<std::string> keys;
    for (const auto* o : {&a, &b}) {
        for (const auto& [k, v] : o->items()) {
            keys.insert(k);
        }
    }
    std::vector<std::string> out;
    for (const auto& k : keys) {
        if (!a.contains(k) || !b.contains(k) || a.at(k) != b.at(k)) {
            out.push_back(k);
        }
    }
    return out;
}

// A tunnel runner's plan (argv[2] of `moat __tunnel JSON`), else null.
nlohmann::json tunnel_of(const nlohmann::json& service) {
    const auto& argv = service.value("argv", nlohmann::json::array());
    if (argv.size() == 3 && argv[1] == "__tunnel" && argv[2].is_string()) {
        auto j = nlohmann::json::parse(argv[2].get<std::string>(), nullptr, false);
        return j.is_object() ? j : nlohmann::json();
    }
    return nullptr;
}

void service_changes(const std::string& name, const nlohmann::json& was, const nlohmann::json& now,
                     std::vector<std::string>& out) {
    auto t_was = tunnel_of(was), t_now = tunnel_of(now);
    if (t_was.is_object() && t_now.is_object()) {
        for (const auto& k : differing_keys(t_was, t_now)) {
            if (k != "digests") {  // which file changed: changed_files()
                add(out, "tunnels." + t_now.value("name", name) + "." + k);
            }
        }
        return;
    }
    for (const auto& k : differing_keys(was, now)) {
        if (k != "argv") {
            add(out, "services." + name + "." + k);
            continue;
        }
        // A script runs as `/bin/sh -c SCRIPT` (plan.cpp).
        const auto& argv = now.value("argv", nlohmann::json::array());
        bool script = argv.size() == 3 && argv[0] == "/bin/sh" && argv[1] == "-c";
        add(out, "services." + name + (script ? ".script" : ".exec"));
    }
}

void services_changes(const nlohmann::json& was, const nlohmann::json& now, std::vector<std::string>& out) {
    std::map<std::string, nlohmann::json> old_by_name, new_by_name;
    for (const auto& s : was) {
        old_by_name[s.value("name", "")] = s;
    }
    std::vector<std::string> order;
    for (const auto& s : now) {
        order.push_back(s.value("name", ""));
        new_by_name[order.back()] = s;
    }
    for (const auto& name : order) {
        auto it = old_by_name.find(name);
        if (it == old_by_name.end()) {
            add(out, "services." + name + " (added)");
        } else {
            service_changes(name, it->second, new_by_name[name], out);
        }
    }
    for (const auto& [name, s] : old_by_name) {
        if (!new_by_name.count(name)) {
            add(out, "services." + name + " (removed)");
        }
    }
    // Same services, another start order.
    if (out.empty()) {
        std::vector<std::string> old_order;
        for (const auto& s : was) {
            old_order.push_back(s.value("name", ""));
        }
        if (old_order != order) {
            add(out, "services (order)");
        }
    }
}

}  // namespace

std::string changed_parts(const nlohmann::json& old_spec, const container_plan& p) {
    if (!old_spec.is_object()) {
        return {};
    }
    auto now = to_json(p);
    std::vector<std::string> parts;
    for (const auto& key : differing_keys(old_spec, now)) {
        if (unhashed(key)) {
            continue;
        }
        if (key == "services") {
            std::vector<std::string> s;
            services_changes(old_spec.value("services", nlohmann::json::array()), now.at("services"), s);
            for (const auto& what : s) {
                add(parts, what);
            }
            continue;
        }
        if (key == "secrets") {
            continue;  // below: which key file
        }
        auto it = key_names().find(key);
        add(parts, it == key_names().end() ? key : it->second);
    }
    // Key files: a new content says which file; another set of files (a
    // pipe added or removed) is the pipes' keyFile.
    auto files = changed_files(old_spec, p);
    if (files.empty() && old_spec.value("secrets", nlohmann::json::array()) != now.at("secrets")) {
        add(parts, "keyFile");
    }
    std::string out;
    for (const auto& part : parts) {
        out += (out.empty() ? "changed: " : ", ") + part;
    }
    if (!files.empty()) {
        out += (out.empty() ? "" : "; ") + files;
    }
    return out;
}

}  // namespace moat::plan
