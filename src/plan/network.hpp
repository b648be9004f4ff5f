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
    // A CNI network's keepWhenIdle: the bridge (and the tunnel its pods
    // use, `keep_tunnel`) stay when its last member goes, until `moat down`.
    bool keep_idle = false;
    std::string keep_tunnel;
    bool operator==(const network_plan&) const = default;
    // The same bridge with the same addresses (whatever is kept when idle).
    bool same_bridge(const network_plan& o) const {
        return name == o.name && bridge_if == o.bridge_if && gateway == o.gateway && gateway6 == o.gateway6;
    }
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

// A container the state directory records as running, as recorded.
struct running_container {
    std::string origin = "file";  // "file" | "run" (state::container_record)
    std::string source;           // its file, for origin "file"
    container_plan plan;
};

// One of the host's addresses, or one of its main-table routes, on a link
// that is not moat's.
struct host_address {
    sys::ip_prefix address;
    std::string link;
};
struct host_route {
    sys::ip_prefix destination;  // never a default route
    std::string link;
    std::string text;            // as `ip route` shows it, for messages
};

// What planning needs from the running host. The CLI fills it from the
// records and the kernel (cli/load.cpp) before anything is touched.
struct host_context {
    std::string default_uplink;  // interface of the default route; "" = none
    // Addresses of running containers, by name (both families).
    std::map<std::string, std::vector<sys::ip_address>> previous;
    // Tunnels that running containers are confined to: their daemons keep
    // running when `up` names other containers.
    std::set<std::string> running_tunnels;

    // For check_host (host_checks.hpp):
    std::string source;       // the file being applied, as records name it
    bool whole_file = true;   // no names given: this file's other containers go
    // Every running container but the internal ones (`_tunnels`, `_pipes`).
    std::map<std::string, running_container> running;
    std::map<std::string, network_plan> networks;  // the bridges the host record names
    std::set<std::string> links;       // every link of the host's namespace
    std::set<std::string> moat_links;  // the links the records name, or this instance's mark
    // Links another moat instance marked (netlink/owner.hpp): whose they are, for people.
    std::map<std::string, std::string> link_owners;
    std::vector<host_address> addresses;  // on links that are not moat's
    std::vector<host_route> routes;       // via links that are not moat's
    std::vector<sys::ip_address> gateways;  // of every main-table route

    // True when `up` keeps running container `name` as it is: it is not
    // replaced by a container of this plan and not removed with the file.
    bool keeps(const std::string& name, const std::set<std::string>& planned) const;
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
