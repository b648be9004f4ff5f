#include "cni/result.hpp"

#include "cni/protocol.hpp"
#include "sys/inet.hpp"

namespace moat::cni {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
    throw error(code::decoding_failure, "prevResult: " + where + ": " + what);
}

std::string string_at(const json& j, const char* key, const std::string& where, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) {
            bad(where, std::string("missing \"") + key + "\"");
        }
        return {};
    }
    if (!it->is_string()) {
        bad(where, std::string("\"") + key + "\" must be a string");
    }
    return it->get<std::string>();
}

std::vector<std::string> strings_at(const json& j, const char* key, const std::string& where) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return out;
    }
    if (!it->is_array()) {
        bad(where, std::string("\"") + key + "\" must be an array of strings");
    }
    for (const auto& s : *it) {
        if (!s.is_string()) {
            bad(where, std::string("\"") + key + "\" must be an array of strings");
        }
        out.push_back(s.get<std::string>());
    }
    return out;
}

// Everything of `j` but the keys moat models, so pass-through keeps it.
json rest(const json& j, std::initializer_list<const char*> modelled) {
    json out = json::object();
    for (const auto& [k, v] : j.items()) {
        bool known = false;
        for (const char* m : modelled) {
            known = known || k == m;
        }
        if (!known) {
            out[k] = v;
        }
    }
    return out;
}

const json& array_at(const json& j, const char* key) {
    static const json empty = json::array();
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return empty;
    }
    if (!it->is_array()) {
        bad(key, "must be an array");
    }
    return *it;
}

interface read_interface(const json& j, const std::string& where) {
    if (!j.is_object()) {
        bad(where, "must be an object");
    }
    interface i;
    i.name = string_at(j, "name", where, true);
    i.mac = string_at(j, "mac", where, false);
    i.sandbox = string_at(j, "sandbox", where, false);
    if (auto it = j.find("mtu"); it != j.end() && !it->is_null()) {
        if (!it->is_number_unsigned()) {
            bad(where, "\"mtu\" must be a non-negative integer");
        }
        i.mtu = it->get<unsigned>();
    }
    i.extra = rest(j, {"name", "mac", "sandbox", "mtu"});
    return i;
}

ip_config read_ip(const json& j, const std::string& where, std::size_t interfaces) {
    if (!j.is_object()) {
        bad(where, "must be an object");
    }
    ip_config ip;
    ip.address = string_at(j, "address", where, true);
    auto prefix = sys::ip_prefix::parse(ip.address);
    if (!prefix || ip.address.find('/') == std::string::npos) {
        bad(where, "\"address\" must be an address in CIDR notation, not \"" + ip.address + "\"");
    }
    ip.gateway = string_at(j, "gateway", where, false);
    if (!ip.gateway.empty() && !sys::ip_address::parse(ip.gateway)) {
        bad(where, "\"gateway\" is not an IP address: \"" + ip.gateway + "\"");
    }
    if (auto it = j.find("interface"); it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<long long>() < 0 ||
            static_cast<std::size_t>(it->get<long long>()) >= interfaces) {
            bad(where, "\"interface\" must index the interfaces list");
        }
        ip.interface = it->get<int>();
    }
    return ip;
}

route read_route(const json& j, const std::string& where) {
    if (!j.is_object()) {
        bad(where, "must be an object");
    }
    route r;
    r.dst = string_at(j, "dst", where, true);
    if (!sys::ip_prefix::parse(r.dst) || r.dst.find('/') == std::string::npos) {
        bad(where, "\"dst\" must be a prefix in CIDR notation, not \"" + r.dst + "\"");
    }
    r.gw = string_at(j, "gw", where, false);
    r.extra = rest(j, {"dst", "gw"});
    return r;
}

}  // namespace

json to_json(const result& r, std::string_view version) {
    const bool family_field = compare_versions(version, "1.0.0") < 0;
    json j = {{"cniVersion", std::string(version)}};
    if (!r.interfaces.empty()) {
        json list = json::array();
        for (const auto& i : r.interfaces) {
            json o = i.extra;
            o["name"] = i.name;
            if (!i.mac.empty()) o["mac"] = i.mac;
            if (i.mtu != 0) o["mtu"] = i.mtu;
            if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
            list.push_back(std::move(o));
        }
        j["interfaces"] = std::move(list);
    }
    if (!r.ips.empty()) {
        json list = json::array();
        for (const auto& ip : r.ips) {
            json o = {{"address", ip.address}};
            if (family_field) {
                o["version"] = ip.address.find(':') == std::string::npos ? "4" : "6";
            }
            if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
            if (ip.interface) o["interface"] = *ip.interface;
            list.push_back(std::move(o));
        }
        j["ips"] = std::move(list);
    }
    if (!r.routes.empty()) {
        json list = json::array();
        for (const auto& rt : r.routes) {
            json o = rt.extra;
            o["dst"] = rt.dst;
            if (!rt.gw.empty()) o["gw"] = rt.gw;
            list.push_back(std::move(o));
        }
        j["routes"] = std::move(list);
    }
    json d = json::object();
    if (!r.dns.nameservers.empty()) d["nameservers"] = r.dns.nameservers;
    if (!r.dns.domain.empty()) d["domain"] = r.dns.domain;
    if (!r.dns.search.empty()) d["search"] = r.dns.search;
    if (!r.dns.options.empty()) d["options"] = r.dns.options;
    j["dns"] = std::move(d);  // libcni's own results always carry it
    return j;
}

result result_from_json(const json& j) {
    if (!j.is_object()) {
        bad("result", "must be an object");
    }
    result r;
    const auto& interfaces = array_at(j, "interfaces");
    for (std::size_t n = 0; n < interfaces.size(); ++n) {
        r.interfaces.push_back(read_interface(interfaces[n], "interfaces[" + std::to_string(n) + "]"));
    }
    const auto& ips = array_at(j, "ips");
    for (std::size_t n = 0; n < ips.size(); ++n) {
        r.ips.push_back(read_ip(ips[n], "ips[" + std::to_string(n) + "]", r.interfaces.size()));
    }
    const auto& routes = array_at(j, "routes");
    for (std::size_t n = 0; n < routes.size(); ++n) {
        r.routes.push_back(read_route(routes[n], "routes[" + std::to_string(n) + "]"));
    }
    if (auto it = j.find("dns"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) {
            bad("dns", "must be an object");
        }
        r.dns.nameservers = strings_at(*it, "nameservers", "dns");
        r.dns.domain = string_at(*it, "domain", "dns", false);
        r.dns.search = strings_at(*it, "search", "dns");
        r.dns.options = strings_at(*it, "options", "dns");
    }
    return r;
}

}  // namespace moat::cni
