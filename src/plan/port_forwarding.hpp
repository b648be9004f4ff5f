// Planning a tunnel's provider port forwarding ([tunnels.<name>.portForwarding],
// tunnel/natpmp.hpp): what the runner maps and where the port goes.
//
// The contract with the container:
//  * the runner writes the port ("<port>\n") to `port_file` in a host
//    directory of the state dir (<state>/forwarded/<tunnel>), atomically
//    (rename), and deletes it when the mapping is gone (lifetime passed
//    without renewal). The directory is bound read-write into `_tunnels`
//    at its own path and read-only into the container at `container_dir`:
//    a directory, not the file, so that each rename is seen inside;
//  * every service of the container gets MOAT_FORWARDED_PORT_FILE (the
//    port itself is unknown when services start, and may change);
//  * with onChange, the container gets a service of its own, `port-hook`
//    (`moat __port-hook`), that watches the directory with inotify and runs
//    the command with /bin/sh -c as the container's own root (user
//    namespace, seccomp, capabilities: the container's, never the host's)
//    with MOAT_FORWARDED_PORT=<port>, each time the runner writes the file:
//    after each mapping that follows the tunnel coming up (the first, and
//    after every reconnect) and whenever the port changes — not on the
//    periodic renewals that keep the same port.
#pragma once

#include "config/model.hpp"
#include "plan/plan.hpp"
#include "sys/inet.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace moat::plan {

inline constexpr const char* forwarded_dir_in_container = "/run/moat/forwarded";
inline constexpr const char* forwarded_port_file = "port";
inline constexpr const char* forwarded_port_env = "MOAT_FORWARDED_PORT_FILE";
inline constexpr const char* port_hook_service = "port-hook";

struct forwarding_plan {
    std::string container;  // whose map and set the runner fills (the firewall has its address)
    sys::ip_address gateway;
    bool tcp = true, udp = true;
    std::uint32_t lifetime = 60;
    std::uint16_t request_port = 0;  // 0: Proton's request (internal 0, public 1)
    std::string host_dir;            // <state>/forwarded/<tunnel>
    bool operator==(const forwarding_plan&) const = default;
};

nlohmann::json to_json(const forwarding_plan& f);
forwarding_plan forwarding_from_json(const nlohmann::json& j);

// The runner's side of tunnel `t`'s portForwarding (nullopt without it):
// from the configuration alone, so that an `up` of other containers plans
// the running tunnel exactly as before (and does not restart it).
std::optional<forwarding_plan> plan_forwarding(const config::tunnel& t, const std::string& state_dir);

// The container's side, when `target` is the one that receives the port:
// the read-only bind of the directory, the environment of its services,
// the hook service. Throws usage_error when it has no IPv4 address.
void prepare_forwarded_container(const config::tunnel& t, const forwarding_plan& f, container_plan& target,
                                 const std::string& moat_exe);

// Whether plan_forwarding() prepared `p` (the read-only bind it adds is
// the mark): the firewall gives it its tunnel's forwarded-port rules.
bool receives_provider_forwarding(const container_plan& p);

// `_tunnels`' read-write bind of the directory the runner writes.
void bind_forwarding_dir(container_plan& tunnels, const forwarding_plan& f);

// Makes the directory (0755; the file is 0644, for a container's root
// that is an unprivileged uid of the host) before the containers start.
void make_forwarding_dir(const forwarding_plan& f);

}  // namespace moat::plan
