#include "plan/plan.hpp"

#include "sys/error.hpp"
#include "sys/hash.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>

#include <cstdio>
#include <set>

namespace moat::plan {

using sys::fnv1a;

std::string link_name(const std::string& prefix, const std::string& name) {
    std::string full = prefix + name;
    if (full.size() <= max_ifname) {
        return full;
    }
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(fnv1a(name) & 0xffff));
    // prefix + as much of the name as fits + 5 ("-xxxx") = 15 bytes.
    return prefix + name.substr(0, max_ifname - prefix.size() - 5) + suffix;
}

std::string host_link_name(const std::string& container) { return link_name("ve-", container); }

static std::optional<address_pair> pair_of(const std::optional<sys::ip_prefix>& host,
                                           const std::optional<sys::ip_prefix>& local) {
    if (!host || !local) {
        return std::nullopt;
    }
    address_pair p{*host, *local, true};
    // A prefix written on either side makes it a shared subnet instead of /32 + peer.
    if (host->length != host->address.max_prefix() || local->length != local->address.max_prefix()) {
        int len = std::min(host->length, local->length);
        p.host.length = len;
        p.local.length = len;
        p.point_to_point = false;
    }
    return p;
}

std::vector<const config::service*> start_order(const std::vector<config::service>& services) {
    std::vector<const config::service*> out;
    std::set<std::string> placed;
    // Repeated passes keep file order among services whose dependencies are
    // met; n passes at most because the validator has ruled out cycles.
    for (size_t pass = 0; pass <= services.size() && out.size() < services.size(); ++pass) {
        for (const auto& s : services) {
            if (placed.count(s.name)) {
                continue;
            }
            bool ready = true;
            for (const auto& dep : s.after) {
                bool known = false;
                for (const auto& other : services) {
                    known = known || other.name == dep;
                }
                ready = ready && (!known || placed.count(dep));
            }
            if (ready) {
                placed.insert(s.name);
                out.push_back(&s);
            }
        }
    }
    return out;
}

static service_plan plan_service(const config::service& s) {
    service_plan p;
    p.name = s.name;
    p.argv = s.script ? std::vector<std::string>{"/bin/sh", "-c", *s.script} : s.exec;
    p.environment = s.environment;
    p.restart = config::to_string(s.restart);
    p.after = s.after;
    return p;
}

static device_plan plan_device(const std::string& node, const std::string& access, const config::location& where) {
    struct stat st {};
    if (::stat(node.c_str(), &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        throw usage_error((where.line ? where.str() + ": " : "") + "allowedDevices: " + node +
                          " is not a device node on this host");
    }
    return {node, S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev), access};
}

static void plan_privileges(const config::container& c, container_plan& p) {
    p.users = config::to_string(c.users);
    if (c.users.mode == config::users_mode::base) {
        p.users = "base";
        p.users_base = c.users.base;
    }
    p.capabilities = c.additional_capabilities;
    for (const auto& d : c.allowed_devices) {
        p.devices.push_back(plan_device(d.node, d.modifier, d.where));
    }
    // NixOS's enableTun is exactly this pair.
    if (c.enable_tun) {
        auto where = c.keys.count("enableTun") ? c.keys.at("enableTun") : c.where;
        p.devices.push_back(plan_device("/dev/net/tun", "rw", where));
        p.capabilities.push_back("CAP_NET_ADMIN");
    }
    std::sort(p.capabilities.begin(), p.capabilities.end());
    p.capabilities.erase(std::unique(p.capabilities.begin(), p.capabilities.end()), p.capabilities.end());
}

container_plan plan_container(const config::container& c) {
    container_plan p;
    p.name = c.name;
    p.hostname = c.name;
    p.private_network = c.private_network;
    p.v4 = pair_of(c.host_address, c.local_address);
    p.v6 = pair_of(c.host_address6, c.local_address6);
    if (p.private_network && (p.v4 || p.v6)) {
        p.host_if = host_link_name(c.name);
    }
    p.egress = c.egress ? config::to_string(*c.egress) : "none";
    for (const auto& f : c.forward_ports) {
        p.forwards.push_back({f.protocol, f.host_port, f.container_port ? f.container_port : f.host_port, f.host_address});
    }
    p.dns = c.dns;
    p.accessible_from = c.accessible_from;
    p.tcp_ports = c.firewall.allowed_tcp_ports;
    p.udp_ports = c.firewall.allowed_udp_ports;
    p.host_tcp_ports = c.firewall.allowed_host_tcp_ports;
    p.host_udp_ports = c.firewall.allowed_host_udp_ports;
    plan_privileges(c, p);
    p.root = c.root.value_or("/");
    // The host's own root is always read-only inside; a directory root is the
    // container's own, writable as with `systemd-nspawn -D`.
    p.root_read_only = !c.root || *c.root == "/";
    p.ephemeral = c.ephemeral;
    p.tmpfs = c.tmpfs;
    p.log_size = c.log_size;
    p.log_files = c.log_files;
    for (const auto& m : c.bind_mounts) {
        p.mounts.push_back({m.host_path.empty() ? m.mount_point : m.host_path, m.mount_point, m.read_only});
    }
    for (const auto* s : start_order(c.services)) {
        p.services.push_back(plan_service(*s));
    }
    return p;
}

static nlohmann::json pair_json(const std::optional<address_pair>& p) {
    if (!p) {
        return nullptr;
    }
    return {{"host", p->host.str()}, {"local", p->local.str()}, {"point_to_point", p->point_to_point}};
}

static std::optional<address_pair> pair_from(const nlohmann::json& j) {
    if (j.is_null()) {
        return std::nullopt;
    }
    return address_pair{sys::ip_prefix::parse(j.at("host").get<std::string>()).value(),
                        sys::ip_prefix::parse(j.at("local").get<std::string>()).value(),
                        j.at("point_to_point").get<bool>()};
}

static nlohmann::json devices_json(const std::vector<device_plan>& devices) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : devices) {
        out.push_back({{"node", d.node}, {"type", std::string(1, d.type)}, {"major", d.major}, {"minor", d.minor},
                       {"access", d.access}});
    }
    return out;
}

static std::vector<device_plan> devices_from(const nlohmann::json& j) {
    std::vector<device_plan> out;
    for (const auto& d : j) {
        out.push_back({d.at("node"), d.at("type").get<std::string>().at(0), d.at("major"), d.at("minor"), d.at("access")});
    }
    return out;
}

static nlohmann::json forwards_json(const std::vector<forward_plan>& forwards) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : forwards) {
        out.push_back({{"protocol", f.protocol}, {"host_port", f.host_port}, {"container_port", f.container_port},
                       {"host_address", f.host_address ? nlohmann::json(f.host_address->str()) : nlohmann::json()}});
        if (f.side != "uplink") {  // only when set: an earlier record's hash stays
            out.back()["side"] = f.side;
        }
    }
    return out;
}

static std::vector<forward_plan> forwards_from(const nlohmann::json& j) {
    std::vector<forward_plan> out;
    for (const auto& f : j) {
        forward_plan fp{f.at("protocol"), f.at("host_port"), f.at("container_port"), std::nullopt,
                        f.value("side", "uplink")};
        if (!f.at("host_address").is_null()) {
            fp.host_address = sys::ip_address::parse(f.at("host_address").get<std::string>());
        }
        out.push_back(std::move(fp));
    }
    return out;
}

nlohmann::json to_json(const container_plan& p) {
    nlohmann::json services = nlohmann::json::array();
    for (const auto& s : p.services) {
        services.push_back({{"name", s.name}, {"argv", s.argv}, {"environment", s.environment},
                            {"restart", s.restart}, {"after", s.after}});
    }
    nlohmann::json mounts = nlohmann::json::array();
    for (const auto& m : p.mounts) {
        mounts.push_back({{"host_path", m.host_path}, {"mount_point", m.mount_point}, {"read_only", m.read_only}});
    }
    nlohmann::json secrets = nlohmann::json::array();
    for (const auto& sec : p.secrets) {
        secrets.push_back({{"host_path", sec.host_path}, {"path", sec.path}, {"digest", sec.digest}});
    }
    nlohmann::json j = {{"name", p.name}, {"hostname", p.hostname}, {"private_network", p.private_network},
            {"host_if", p.host_if}, {"network", p.network}, {"bridge_if", p.bridge_if},
            {"v4", pair_json(p.v4)}, {"v6", pair_json(p.v6)},
            {"egress", p.egress}, {"uplink", p.uplink}, {"forwards", forwards_json(p.forwards)},
            {"tunnel", p.tunnel}, {"tunnel_if", p.tunnel_if}, {"tunnel_host", p.tunnel_host}, {"probe", p.probes}, {"on_failure", p.on_failure}, {"dns", p.dns}, {"tcp_ports", p.tcp_ports}, {"udp_ports", p.udp_ports},
            {"host_tcp_ports", p.host_tcp_ports}, {"host_udp_ports", p.host_udp_ports},
            {"users", p.users}, {"users_base", p.users_base}, {"capabilities", p.capabilities},
            {"devices", devices_json(p.devices)},
            {"root", p.root}, {"root_read_only", p.root_read_only}, {"ephemeral", p.ephemeral},
            {"mounts", mounts}, {"secrets", secrets}, {"services", services}};
    // Only when set: the hash of a definition that does not use them stays
    // what an earlier moat recorded, so an upgrade restarts nothing.
    if (!p.accessible_from.empty()) {
        std::vector<std::string> from;
        for (const auto& a : p.accessible_from) {
            from.push_back(a.str());
        }
        j["accessible_from"] = from;
    }
    if (!p.tmpfs.empty()) {
        j["tmpfs"] = p.tmpfs;
    }
    if (!p.dns_search.empty()) {
        j["dns_search"] = p.dns_search;
    }
    if (p.log_size != container_plan{}.log_size || p.log_files != container_plan{}.log_files) {
        j["log_size"] = p.log_size;
        j["log_files"] = p.log_files;
    }
    return j;
}

container_plan plan_from_json(const nlohmann::json& j) {
    container_plan p;
    p.name = j.at("name");
    p.hostname = j.at("hostname");
    p.private_network = j.at("private_network");
    p.host_if = j.at("host_if");
    p.v4 = pair_from(j.at("v4"));
    p.v6 = pair_from(j.at("v6"));
    p.network = j.value("network", "");
    p.bridge_if = j.value("bridge_if", "");
    p.egress = j.at("egress");
    p.uplink = j.value("uplink", "");
    if (j.contains("forwards")) {
        p.forwards = forwards_from(j.at("forwards"));
    }
    p.tunnel = j.value("tunnel", "");
    p.tunnel_if = j.value("tunnel_if", "");
    p.tunnel_host = j.value("tunnel_host", false);
    if (auto it = j.find("probe"); it != j.end() && it->is_array()) {
        p.probes = it->get<std::vector<std::string>>();
    } else if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
        p.probes = {it->get<std::string>()};  // recorded by an earlier moat
    }
    p.on_failure = j.value("on_failure", "");
    p.dns = j.at("dns").get<std::vector<std::string>>();
    p.dns_search = j.value("dns_search", std::vector<std::string>{});
    p.tcp_ports = j.at("tcp_ports").get<std::vector<std::uint16_t>>();
    p.udp_ports = j.at("udp_ports").get<std::vector<std::uint16_t>>();
    p.host_tcp_ports = j.value("host_tcp_ports", std::vector<std::uint16_t>{});
    p.host_udp_ports = j.value("host_udp_ports", std::vector<std::uint16_t>{});
    // A record written before privateUsers existed: no user namespace.
    p.users = j.value("users", "no");
    p.users_base = j.value("users_base", 0U);
    p.capabilities = j.value("capabilities", std::vector<std::string>{});
    if (j.contains("devices")) {
        p.devices = devices_from(j.at("devices"));
    }
    p.root = j.at("root");
    p.root_read_only = j.at("root_read_only");
    p.ephemeral = j.at("ephemeral");
    p.tmpfs = j.value("tmpfs", std::vector<std::string>{});
    for (const auto& m : j.at("mounts")) {
        p.mounts.push_back({m.at("host_path"), m.at("mount_point"), m.at("read_only")});
    }
    for (const auto& sec : j.value("secrets", nlohmann::json::array())) {
        p.secrets.push_back({sec.at("host_path"), sec.at("path"), sec.value("digest", "")});
    }
    for (const auto& a : j.value("accessible_from", std::vector<std::string>{})) {
        p.accessible_from.push_back(sys::ip_prefix::parse(a).value());
    }
    p.log_size = j.value("log_size", p.log_size);
    p.log_files = j.value("log_files", p.log_files);
    for (const auto& s : j.at("services")) {
        p.services.push_back({s.at("name"), s.at("argv").get<std::vector<std::string>>(),
                              s.at("environment").get<std::map<std::string, std::string>>(),
                              s.at("restart"), s.at("after").get<std::vector<std::string>>()});
    }
    return p;
}

std::string egress_label(const container_plan& p) {
    return p.egress == "vpn" && !p.tunnel.empty() ? "vpn:" + p.tunnel : p.egress;
}

std::string hash(const container_plan& p) {
    auto j = to_json(p);
    j.erase("uplink");
    j.erase("probe");  // only `moat check` reads these
    j.erase("on_failure");
    return sys::fnv1a_hex(j.dump());
}

}  // namespace moat::plan
