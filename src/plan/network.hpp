// Planning bridge networks: the bridge each `[networks.<name>]` becomes, and
// the members' addresses.
//
// Address allocation. A member without localAddress gets the address at
// index 2 + fnv1a(name) mod (usable addresses) of its subnet, probing upward
// on collision (index 1 is the bridge; IPv4 network and broadcast addresses
// are never used). Members are placed in name order after every explicit
// address is reserved, so the result depends only on the file: the same
// container gets the same address after `down` and `up`. A running
// container keeps the address it has (`previous`) as long as that is still
// free and inside the subnet, so adding a container to the file never moves
// one that is already running.
#pragma once

#include "config/model.hpp"
#include "plan/plan.hpp"
#include "sys/inet.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moat::plan {

struct network_plan {
    std::string name;
    std::string bridge_if;                   // "mb-<name>"
    sys::ip_prefix gateway;                  // the bridge's address: first of the subnet, subnet's length
    std::optional<sys::ip_prefix> gateway6;
    bool operator==(const network_plan&) const = default;
};

std::string bridge_name(const std::string& network);
network_plan plan_network(const config::network& n);
nlohmann::json to_json(const network_plan& n);
network_plan network_from_json(const nlohmann::json& j);

// Chooses addresses in `subnet` for `members` (names) that have none.
// `taken`: addresses already used (explicit members, the bridge).
// `previous`: what running members have now. Throws moat::usage_error when
// the subnet is full.
std::map<std::string, sys::ip_address> allocate(const sys::ip_prefix& subnet, const std::vector<std::string>& members,
                                                const std::set<sys::ip_address>& taken,
                                                const std::map<std::string, sys::ip_address>& previous);

// What planning needs from the running host.
struct host_context {
    std::string default_uplink;  // interface of the default route; "" = none
    // Addresses of running containers, by name (both families).
    std::map<std::string, std::vector<sys::ip_address>> previous;
    // Tunnels that running containers are confined to: their daemons keep
    // running when `up` names other containers.
    std::set<std::string> running_tunnels;
};

struct host_plan {
    std::vector<network_plan> networks;     // those the selected containers use
    std::vector<container_plan> containers; // the selected ones, in file order
};

// Plans the selected containers of `m`, with bridge membership, allocated
// addresses, effective egress and uplink. Allocation always considers every
// member of a network, selected or not, so `up a` then `up b` gives the same
// addresses as `up`.
host_plan plan_host(const config::model& m, const std::function<bool(const config::container&)>& selected,
                    const host_context& ctx);

}  // namespace moat::plan
