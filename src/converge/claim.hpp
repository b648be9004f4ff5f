// Instances: which moat state directory owns this network namespace.
//
// Theory of operation. PRODUCT.md: several state directories may share a
// network namespace only if they can never weaken each other; otherwise the
// second is refused. moat's objects in a namespace are not independent —
// there is one `table inet moat` (the firewall of every container), one
// routing rule set at fixed priorities into tunnel tables numbered by tunnel
// name, sysctls with one value — so "never weaken" is only possible with one
// owner. The owner is the instance whose claim the table carries
// (firewall.hpp: its comment "moat:<instance id>:<state dir>"):
//  * `up` (and `run`) of an instance that needs the namespace (a container
//    with a private network) stops before touching anything when the table
//    exists and is not its own: exit 2, naming the owner and its state dir.
//  * An instance whose containers all share the host's network needs
//    nothing of the namespace and can weaken nothing: it is never refused.
//  * No command replaces or deletes a table that is not its own, and the
//    rules into tunnel tables are only removed by the owner (routing.cpp).
//  * A table without a claim was made by a moat before claims (or by
//    hand): it is this instance's only if its host.json records one.
//  * The owner's claim stays while the table does; `down` of its last
//    container removes both. After a crash whose state directory is gone,
//    `moat --state-dir <same path> gc` removes it (gc.hpp).
// Links carry their own proof of ownership (netlink/owner.hpp).
#pragma once

#include "firewall/firewall.hpp"
#include "plan/network.hpp"
#include "state/store.hpp"

#include <optional>
#include <set>
#include <string>

namespace moat::converge {

// This instance's claim.
firewall::claim own_claim(const state::store& store);

// The namespace's `inet moat` table, seen from one instance.
struct table_claim {
    bool present = false;                   // the table exists
    std::optional<firewall::claim> owner;   // its claim; nullopt: none
    bool ours = false;                      // this instance may replace or delete it

    bool exists() const { return present; }
    bool foreign() const { return exists() && !ours; }
};

// `instance` is the caller's id; `recorded` whether its records say it made
// the table (host.json's nft_table), which decides for a table without claim.
table_claim judge_claim(std::optional<std::string> listing, const std::string& instance, bool recorded);
// The same from the table's comment (firewall::table_comment()'s answer).
table_claim judge_comment(const std::optional<std::optional<std::string>>& comment, const std::string& instance,
                          bool recorded);
// Reads the claim with one netlink request (firewall::table_comment()), not a listing.
table_claim read_claim(const state::store& store);

// What to tell the user about a table that is not theirs.
std::string foreign_table_message(const table_claim& c, const state::store& store);

// Containers of this instance alive in the kernel (cgroups under
// moat/<instance id>/) that no record of `store` names: its state directory
// was deleted or lost them, and only `moat gc` finds them.
std::set<std::string> unrecorded_containers(const state::store& store);
// The same against a listing of `store` the caller made under its lock.
std::set<std::string> unrecorded_containers(const state::store& store, const state::listing& listing);

// Refuses (moat::usage_error, exit 2; nothing touched) an `up` of `plan`
// when another instance owns this namespace and `plan` needs it, and when
// this instance has objects in the kernel its state directory does not
// record (the directory was deleted: `gc` first).
void claim_network_namespace(const state::store& store, const plan::host_plan& plan);
void claim_network_namespace(const state::store& store, const plan::host_plan& plan, const state::listing& listing);

}  // namespace moat::converge
