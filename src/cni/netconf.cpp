#include "cni/netconf.hpp"

#include "config/names.hpp"

#include <set>

namespace moat::cni {
namespace {

using nlohmann::json;

[[noreturn]] void invalid(const std::string& key, const std::string& what) {
    throw error(code::invalid_config, "\"" + key + "\": " + what);
}

std::string text(const json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        invalid(key, "must be a string");
    }
    return it->get<std::string>();
}

std::vector<std::uint16_t> ports(const json& config, const char* key) {
    std::vector<std::uint16_t> out;
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        return out;
    }
    if (!it->is_array()) {
        invalid(key, "must be an array of port numbers");
    }
    for (const auto& p : *it) {
        if (!p.is_number_unsigned() || p.get<unsigned long>() < 1 || p.get<unsigned long>() > 65535) {
            invalid(key, "must be an array of port numbers 1-65535, not " + p.dump());
        }
        out.push_back(static_cast<std::uint16_t>(p.get<unsigned long>()));
    }
    return out;
}

std::vector<std::string> strings(const json& j, const char* key, const std::string& where) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return out;
    }
    if (!it->is_array()) {
        invalid(where, "must be an array of strings");
    }
    for (const auto& s : *it) {
        if (!s.is_string()) {
            invalid(where, "must be an array of strings");
        }
        out.push_back(s.get<std::string>());
    }
    return out;
}

// The keys of a request configuration: the protocol's own, the well-known
// ones moat honours, and moat's. Everything else is refused.
void refuse_unknown(const json& config) {
    static const std::set<std::string> known = {
        "cniVersion", "cniVersions", "name", "type", "runtimeConfig", "prevResult", "args", "capabilities",
        "dns", "subnet", "ipam", "egress", "moatConfig", "stateDir", "allowedTCPPorts", "allowedUDPPorts",
        "keepWhenIdle",
    };
    for (const auto& [key, value] : config.items()) {
        if (known.count(key) || key.rfind("cni.dev/", 0) == 0) {
            continue;
        }
        std::string why = key == "ipMasq" ? " (use \"egress\": \"nat\")" : "";
        throw error(code::unsupported_field, "unsupported field \"" + key + "\": " + value.dump() + why);
    }
}

void read_egress(netconf& nc, const json& config) {
    std::string egress = text(config, "egress");
    if (egress.empty() || egress == "nat" || egress == "none") {
        nc.egress = egress.empty() ? "nat" : egress;
        return;
    }
    if (egress.rfind("vpn:", 0) != 0) {
        invalid("egress", "must be \"none\", \"nat\" or \"vpn:<tunnel>\", not \"" + egress + "\"");
    }
    nc.egress = "vpn";
    nc.tunnel = egress.substr(4);
    if (auto problem = config::name_problem(nc.tunnel)) {
        invalid("egress", "tunnel name \"" + nc.tunnel + "\": " + *problem);
    }
    nc.moat_config = text(config, "moatConfig");
    if (nc.moat_config.empty()) {
        invalid("egress", "\"vpn:" + nc.tunnel + "\" needs \"moatConfig\", the moat file that defines [tunnels." +
                              nc.tunnel + "]");
    }
}

// Exactly one of "subnet" (moat allocates) and "ipam" (a plugin does).
void read_addressing(netconf& nc, const json& config) {
    std::string subnet = text(config, "subnet");
    auto ipam = config.find("ipam");
    bool has_ipam = ipam != config.end() && !ipam->is_null();
    if (has_ipam && !subnet.empty()) {
        throw error(code::invalid_config, "\"subnet\" and \"ipam\" are both given: moat allocates from \"subnet\" "
                                          "itself or delegates to the \"ipam\" plugin, give one of them");
    }
    if (has_ipam) {
        if (!ipam->is_object() || !ipam->contains("type") || !(*ipam)["type"].is_string() ||
            (*ipam)["type"].get<std::string>().empty()) {
            invalid("ipam", "must be an object naming its plugin in \"type\", e.g. {\"type\": \"host-local\", ...}");
        }
        nc.ipam_type = (*ipam)["type"].get<std::string>();
        if (nc.ipam_type.find('/') != std::string::npos || nc.ipam_type == "." || nc.ipam_type == "..") {
            invalid("ipam", "\"type\" must name a plugin binary in CNI_PATH, not \"" + nc.ipam_type + "\"");
        }
        return;
    }
    if (subnet.empty()) {
        throw error(code::invalid_config, "\"subnet\" or \"ipam\" is required: the IPv4 prefix moat allocates pod "
                                          "addresses from (e.g. \"10.89.0.0/24\"), or the IPAM plugin to delegate to");
    }
    auto p = sys::ip_prefix::parse(subnet);
    if (!p || !p->address.is_v4() || subnet.find('/') == std::string::npos) {
        invalid("subnet", "must be an IPv4 prefix such as \"10.89.0.0/24\", not \"" + subnet + "\"");
    }
    if (p->length > 29) {
        invalid("subnet", subnet + " is too small: the bridge takes one address and a pod needs another");
    }
    nc.subnet = p->network();
}

port_mapping read_mapping(const json& m) {
    if (!m.is_object()) {
        invalid("runtimeConfig.portMappings", "entries must be objects");
    }
    port_mapping pm;
    for (const auto& [k, v] : m.items()) {
        if (k == "hostPort" || k == "containerPort") {
            if (!v.is_number_unsigned() || v.get<unsigned long>() < 1 || v.get<unsigned long>() > 65535) {
                invalid("runtimeConfig.portMappings", k + " must be 1-65535, not " + v.dump());
            }
            (k == "hostPort" ? pm.host_port : pm.container_port) = static_cast<std::uint16_t>(v.get<unsigned long>());
        } else if (k == "protocol") {
            pm.protocol = v.is_string() ? v.get<std::string>() : "";
            if (pm.protocol != "tcp" && pm.protocol != "udp") {
                invalid("runtimeConfig.portMappings", "protocol must be \"tcp\" or \"udp\", not " + v.dump());
            }
        } else if (k == "hostIP") {
            std::string ip = v.is_string() ? v.get<std::string>() : "";
            if (!ip.empty()) {  // libcni passes "" for "any"
                pm.host_ip = sys::ip_address::parse(ip);
                if (!pm.host_ip) {
                    invalid("runtimeConfig.portMappings", "hostIP is not an IP address: " + v.dump());
                }
            }
        }
    }
    if (pm.host_port == 0 || pm.container_port == 0) {
        invalid("runtimeConfig.portMappings", "entries need hostPort and containerPort: " + m.dump());
    }
    return pm;
}

}  // namespace

netconf parse_netconf(const request& r) {
    const json& config = r.config;
    refuse_unknown(config);
    netconf nc;
    nc.network = r.network;
    nc.moat_network = "cni-" + r.network;
    if (auto problem = config::name_problem(nc.moat_network)) {
        throw error(code::invalid_config, "network name \"" + r.network + "\" cannot be a moat network name: " +
                                              *problem + " (after the prefix \"cni-\")");
    }
    read_addressing(nc, config);
    read_egress(nc, config);
    if (auto dir = text(config, "stateDir"); !dir.empty()) {
        if (auto problem = config::path_problem(dir)) {
            invalid("stateDir", *problem);
        }
        nc.state_dir = dir;
    }
    if (auto it = config.find("keepWhenIdle"); it != config.end() && !it->is_null()) {
        if (!it->is_boolean()) {
            invalid("keepWhenIdle", "must be true or false, not " + it->dump());
        }
        nc.keep_idle = it->get<bool>();
    }
    nc.tcp_ports = ports(config, "allowedTCPPorts");
    nc.udp_ports = ports(config, "allowedUDPPorts");
    if (auto it = config.find("dns"); it != config.end() && !it->is_null()) {
        if (!it->is_object()) {
            invalid("dns", "must be an object");
        }
        nc.nameservers = strings(*it, "nameservers", "dns.nameservers");
        nc.search = strings(*it, "search", "dns.search");
    }
    if (auto it = r.runtime_config.find("portMappings"); it != r.runtime_config.end() && !it->is_null()) {
        if (!it->is_array()) {
            invalid("runtimeConfig.portMappings", "must be an array");
        }
        for (const auto& m : *it) {
            nc.port_mappings.push_back(read_mapping(m));
        }
    }
    return nc;
}

}  // namespace moat::cni
