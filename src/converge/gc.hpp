// `moat gc`: remove everything of one moat instance that the kernel still
// holds, with or without its records.
//
// Theory of operation. A state directory can be lost (deleted by hand, a
// tmpfs cleaned) while its containers run; `down` then knows nothing. But
// every kernel object moat makes can be found without a record:
//  * containers are cgroups under <cgroup2>/moat/<instance id>/ — killed
//    first (cgroup.kill: every process, however it forked), so nothing runs
//    while its confinement goes; a container's network namespace, and its
//    veth with it, dies with its last process;
//  * links carry the alias "moat:<instance id>:..." (netlink/owner.hpp):
//    bridges, veth host ends, tunnel devices;
//  * the table carries the claim "moat:<instance id>:<dir>" (firewall.hpp);
//  * the rules into tunnel tables (9999 fwmark 0x6d6f6174 lookup main;
//    10000 and 10001 into plan::tunnel_table's range 0x6d740000-0x6d74ffff)
//    and the routes in those tables have no owner mark: they are removed
//    only when the namespace is not another instance's (claim.hpp).
// The instance id is a hash of the state directory's path, so
// `moat --state-dir <same path> gc` finds them even when the directory is
// gone. With records, gc also stops what they name (also without cgroup
// v2), deletes the links they name that have no mark (an older moat's),
// restores the sysctls they recorded, and removes the state directory.
// Nothing of another instance, and nothing without moat's mark that no
// record names, is touched. What gc cannot restore without records: the
// forwarding sysctls `up` set to 1 (their original values were only in
// host.json); route_localnet is per link and goes with it; containers make
// no mounts in the host's mount namespace. Whose objects to collect is the
// caller's choice: `moat gc` passes its own state directory's id, and
// `gc --instance ID` — the explicit request — another's, alive or not.
#pragma once

#include "state/store.hpp"

#include <string>
#include <vector>

namespace moat::converge {

struct gc_report {
    std::vector<std::string> removed;  // "cgroup moat/<id>/web", "link mb-lan", ...
    std::vector<std::string> kept;     // what was left alone, and why
    std::vector<std::string> failed;   // steps that failed (the others still ran)
};

// Throws, before anything is touched, where this process cannot see the
// cgroups PID 1 sees (`ip netns exec`): a collection there would find no
// container's processes, and stop none (container::check_removable).
void check_collectable();

// Removes what instance `instance` left in this network namespace and the
// cgroup hierarchy; with `store` (the instance's, locked), also what its
// records name and the records themselves.
gc_report collect(const std::string& instance, state::store* store);

}  // namespace moat::converge
