// What changed in a container's definition since `up` recorded it.
//
// Theory of operation: the record keeps the plan `up` started the container
// from (to_json, plan.hpp), and its hash decides "recreate". To say *why*,
// the recorded plan and the new one are compared key by key, leaving out
// what the hash leaves out (uplink, probe, onFailure), and each differing
// key is named as the configuration spells it: `mounts` is "bindMounts",
// `tcp_ports` "firewall.allowedTCPPorts", a service's argv its "script" (or
// "exec"). Services are matched by name ("services.web.script",
// "services.db (added)"); a tunnel runner's plan, which its argv carries as
// JSON, is compared the same way ("tunnels.vpn.config"). Changed file
// contents come from changed_files() (digest.hpp), which says which file.
#pragma once

#include "plan/plan.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace moat::plan {

// "changed: services.web.script, bindMounts", then changed_files()'s
// "key file /etc/k changed" after a "; " (alone when only a file's content
// changed); empty when nothing the hash covers differs, or the record is
// not an object.
std::string changed_parts(const nlohmann::json& old_spec, const container_plan& p);

}  // namespace moat::plan
