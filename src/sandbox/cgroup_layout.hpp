// Where moat's cgroups live: today's layout, or below a cgroup delegated to
// moat by a service manager (systemd's Delegate=yes).
//
// Theory of operation: a container's cgroup is <base>/moat/<instance>/<name>
// below the cgroup2 mount. <base> is the mount's root by default. Under
// `moat up --foreground` in a unit with Delegate=yes (which also sets
// MOAT_CGROUP_DELEGATED=1, dist/systemd/moat@.service), <base> is the unit's
// own cgroup, read from /proc/self/cgroup's "0::" line, so the unit's
// accounting, limits and its final kill cover the containers. cgroup v2's
// no-internal-processes rule (a cgroup with controllers enabled for its
// children holds no processes itself) and systemd's delegation contract
// (CGROUP_DELEGATION.md: the delegatee moves its own process into a leaf)
// are kept by moving moat itself to <base>/supervisor first.
//
// Records keep each cgroup's absolute path, so `down`, `status`, `exec`
// and ExecStopPost's `down` go by the record wherever it is. What goes
// without a record (gc, the check for unrecorded containers, a damaged
// record's implied cgroup) looks for <any>/moat/<instance> in the tree,
// and a uid pick for every other instance's <any>/moat/<other>/<name>
// (their running containers' blocks, container/users.hpp): the default
// place first, then every directory down to a few levels (a unit's cgroup
// is system.slice/moat@x.service, or deeper in a user's manager), never
// descending into a "moat" directory (containers' own).
#pragma once

#include <string>
#include <vector>

namespace moat::sandbox {

// The cgroup of an instance's containers that this process creates:
// <mount>/moat/<instance>, or below the delegated base.
std::string instance_cgroup(const std::string& mount, const std::string& instance);

// Moves this process into <own cgroup>/supervisor and makes its own cgroup
// the base of the containers it creates. Does nothing (returns false) when
// this process is in the root cgroup or there is no cgroup2 mount.
bool use_delegated_cgroup();
// The "0::" path of /proc/self/cgroup's text (exposed for tests): "/" for the root.
std::string unified_path_from(const std::string& proc_self_cgroup);

// Every existing <...>/moat/<instance> directory: the default first.
std::vector<std::string> instance_cgroups(const std::string& mount, const std::string& instance);
// Every container cgroup, <...>/moat/<other>/<name>, of every instance but
// `instance` on this host (container/users.hpp: their uid ranges).
std::vector<std::string> other_instances_containers(const std::string& mount, const std::string& instance);

}  // namespace moat::sandbox
