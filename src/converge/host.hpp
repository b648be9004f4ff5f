// Host-wide objects shared by containers: bridge networks, the sysctls NAT
// and forwarded ports need, and the `inet moat` table.
#pragma once

#include "firewall/firewall.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <set>
#include <string>
#include <vector>

namespace moat::converge {

// The interface of the default route (IPv4, else IPv6) in the main table;
// "" when there is none.
std::string default_uplink();

// Creates the wanted bridges that are missing (drift included) and deletes
// recorded ones that are no longer wanted or whose plan changed. Returns the
// names of the networks it (re)built: their members need new veths.
// Refuses a bridge name that exists but is not recorded as moat's.
std::set<std::string> sync_networks(state::store& store, const std::vector<plan::network_plan>& wanted);

// The host ends of the veths of stopped containers (container::stop with
// keep_link), deleted in one request per instance
// (netlink::socket::delete_links_if_owned; the peers go with them): one
// wait for the kernel's RCU grace period for all. A link another instance
// marked is left alone, with a note, as stop() would.
void delete_veths(const std::vector<state::container_record>& stopped);

// The host sysctls the running containers need set to 1.
std::set<std::string> needed_sysctls(const std::vector<plan::container_plan>& running);

// Sets needed_sysctls(running) to 1, recording each original value first,
// and restores the recorded ones no longer needed.
void sync_sysctls(state::store& store, const std::vector<plan::container_plan>& running);

// Commits the firewall for `spec` (or removes the table when it has no
// endpoints); skips an identical re-commit unless `force` (ingress hooks
// are bound to interfaces that were just recreated). True when committed.
// With `incremental` (CNI ADD and DEL), a table that is ours and was
// committed from host.json's script is changed in place, in one
// transaction, by what differs (firewall::incremental_update()); anything
// else, or a failure of that, replaces the whole table.
bool commit_firewall(state::store& store, const firewall::spec& spec, bool force = false, bool incremental = false);

}  // namespace moat::converge
