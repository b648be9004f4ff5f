// Damaged state (state/store.hpp, "Damage"): what `up` and `down` do with a
// record or a host.json they cannot read.
//
// A damaged record's directory name is its container's name, and the name
// implies what moat made for it: the cgroup <cgroup2>/moat/<instance>/<name>
// (which holds every process it ever started) and the host veth
// plan::host_link_name(name). So
//  * `down` removes what the name implies and the directory, and says which
//    file was damaged;
//  * `up` recreates a damaged container its file declares ("repaired");
//    one it does not declare cannot be attributed to the file, so its
//    directory stays, but its container is stopped: its firewall chains can
//    no longer be rendered, and a veth left outside the table would be
//    forwarded unfiltered (fail closed). `moat down NAME` then removes it.
//  * `down NAME` stops a damaged container it was not asked to remove, for
//    the same reason (its directory stays, and it is said so);
//  * `moat run` refuses to start while a record is damaged;
//  * a directory whose name is not a container name is reported and left
//    alone by all of them.
// A damaged host.json is rebuilt by `down` before it acts, from what is
// still readable of it (state/host_file.cpp) and from the intact records:
// the table `inet moat` when it exists (by name: with host.json gone nothing
// says whose it is), the bridges of the records' networks, the routes and
// rules routing_for() gives their plans. A sysctl whose original value is
// lost is left as it is, with a warning: moat cannot know what to restore.
// `up` refuses to build on a damaged host.json (host() throws).
#pragma once

#include "converge/converge.hpp"
#include "state/store.hpp"

#include <set>
#include <string>

namespace moat::converge {

// "moat: warning: <text>" on stderr.
void warn(const std::string& text);

// The record a damaged one implies: its name, the cgroup and veth its name
// gives, and whatever the damaged file still said about its init.
state::container_record implied_record(const state::store& store, const state::damaged_record& d);

// Whether anything the implied record names still exists (its cgroup, its veth).
bool implied_present(const state::container_record& implied);

// Throws, before anything is stopped, when what a damaged record implies
// cannot be removed from here (container::check_removable), or its cgroup
// cannot even be looked for (no cgroup2 mount where PID 1 has one).
void check_removable(const state::store& store, const std::vector<state::damaged_record>& damaged);

// For `up`: stops what each damaged record implies; removes the directory
// of those `planned` names (they are created again) and returns their
// names; reports foreign entries. Actions go to `rep`.
std::set<std::string> stop_damaged(state::store& store, const state::listing& l, const std::set<std::string>& planned,
                                   report& rep);

// Rewrites a damaged host.json from its readable parts and the records
// (see above), warning about what it names and what it cannot restore.
// Does nothing when host.json is intact.
void repair_host(state::store& store, const std::vector<state::container_record>& records);

}  // namespace moat::converge
