// A container's devices: the allowlist its cgroup's device filter
// enforces, the nodes its /dev gets, and what it may not do without that
// filter (docs/SECURITY.md, devices).
#pragma once

#include "container/trees.hpp"
#include "plan/plan.hpp"
#include "sandbox/device_filter.hpp"

#include <vector>

namespace moat::container {

// The devices the container may open: the default nodes and what its plan
// allows (allowedDevices, enableTun; /dev/net/tun for moat's tunnel runners).
std::vector<sandbox::device_rule> device_rules(const plan::container_plan& plan);

// The nodes of the container's /dev (trees.hpp, make_node_store): the
// default ones, as Docker gives them, and those its plan allows, with the
// host node's permission bits.
std::vector<device_node> device_nodes(const plan::container_plan& plan);

// For a container about to start without a cgroup (no cgroup v2 hierarchy
// in this mount namespace): throws moat::error when its configuration
// needs the device filter, which lives on one; else says once, on stderr,
// what containers run without.
void check_without_cgroup(const plan::container_plan& plan, bool user_namespace);

}  // namespace moat::container
