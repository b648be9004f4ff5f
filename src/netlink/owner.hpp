// Proof of ownership on links: the alias (IFLA_IFALIAS) moat gives every
// link it creates.
//
// Theory of operation: two moat instances (two state directories) may run
// in one network namespace, and a record alone does not prove that the
// link of that name is the one this instance made (records are written
// BEFORE the object, and the name may already have been someone else's).
// So each link moat creates — a container veth's host end, a network's
// bridge, a tunnel device — is marked "moat:<instance id>:<what>", where
// the instance id is state::store::instance_id() (a hash of the state
// directory's path) and <what> says which object it is ("container web",
// "network lan", "tunnel wg0"). Deletion by name checks the mark first
// (socket::delete_link_if_owned), and `moat gc` finds an instance's links
// by it without any record. The alias is at most IFALIASZ - 1 = 255 bytes
// and readable by anyone (`ip link show`): it holds no secret.
#pragma once

#include <optional>
#include <string>

namespace moat::netlink {

inline constexpr const char* owner_prefix = "moat:";

// "moat:<instance>:<what>"
std::string owner_alias(const std::string& instance, const std::string& what);

struct link_owner {
    std::string instance;
    std::string what;
};

// The owner an alias names, or nullopt when it is not moat's mark
// (empty, another program's alias, a malformed instance id).
std::optional<link_owner> parse_owner_alias(const std::string& alias);

}  // namespace moat::netlink
