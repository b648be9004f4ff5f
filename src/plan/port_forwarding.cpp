// Provider port forwarding in the plan (port_forwarding.hpp).
#include "plan/port_forwarding.hpp"

#include "plan/pipes.hpp"
#include "sys/error.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace moat::plan {

nlohmann::json to_json(const forwarding_plan& f) {
    return {{"container", f.container}, {"gateway", f.gateway.str()}, {"tcp", f.tcp}, {"udp", f.udp},
            {"lifetime", f.lifetime}, {"request_port", f.request_port}, {"host_dir", f.host_dir}};
}

forwarding_plan forwarding_from_json(const nlohmann::json& j) {
    forwarding_plan f;
    f.container = j.at("container");
    f.gateway = sys::ip_address::parse(j.at("gateway").get<std::string>()).value();
    f.tcp = j.at("tcp");
    f.udp = j.at("udp");
    f.lifetime = j.at("lifetime");
    f.request_port = j.at("request_port");
    f.host_dir = j.at("host_dir");
    return f;
}

std::optional<forwarding_plan> plan_forwarding(const config::tunnel& t, const std::string& state_dir) {
    if (!t.forwarding) {
        return std::nullopt;
    }
    const auto& c = *t.forwarding;
    forwarding_plan f;
    f.container = c.container;
    f.gateway = c.gateway.value();
    f.tcp = c.tcp;
    f.udp = c.udp;
    f.lifetime = c.lifetime;
    f.request_port = c.request_port.value_or(0);
    f.host_dir = std::filesystem::absolute(state_dir).lexically_normal().string() + "/forwarded/" + t.name;
    return f;
}

void prepare_forwarded_container(const config::tunnel& t, const forwarding_plan& f, container_plan& target,
                                 const std::string& moat_exe) {
    const auto& c = *t.forwarding;
    if (!target.v4) {
        throw usage_error(c.where.str() + ": portForwarding of tunnel '" + t.name + "': container '" + c.container +
                          "' has no IPv4 address, and NAT-PMP forwards IPv4 only");
    }
    target.mounts.push_back({f.host_dir, forwarded_dir_in_container, true});
    const std::string file = std::string(forwarded_dir_in_container) + "/" + forwarded_port_file;
    for (auto& s : target.services) {
        s.environment[forwarded_port_env] = file;
    }
    if (c.on_change) {
        add_binary_mount(target, moat_exe);
        service_plan hook;
        hook.name = port_hook_service;
        hook.argv = {moat_in_container, "__port-hook", file, *c.on_change};
        hook.environment[forwarded_port_env] = file;
        hook.restart = "always";
        target.services.push_back(std::move(hook));
    }
}

bool receives_provider_forwarding(const container_plan& p) {
    return !p.tunnel_if.empty() && std::any_of(p.mounts.begin(), p.mounts.end(), [](const mount_plan& m) {
        return m.mount_point == forwarded_dir_in_container;
    });
}

void bind_forwarding_dir(container_plan& tunnels, const forwarding_plan& f) {
    tunnels.mounts.push_back({f.host_dir, f.host_dir, false});
}

void make_forwarding_dir(const forwarding_plan& f) {
    for (const std::string& d : {f.host_dir.substr(0, f.host_dir.rfind('/')), f.host_dir}) {
        if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
            throw sys::errno_error("making " + d);
        }
        ::chmod(d.c_str(), 0755);
    }
}

}  // namespace moat::plan
