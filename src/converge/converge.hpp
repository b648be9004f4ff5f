// Convergence: make the host match a set of container plans, and undo it.
//
// `up` compares each plan's hash with the record of what runs: unchanged
// containers are left alone (their services keep running), changed ones are
// recreated, dead ones repaired, and — when the whole file is applied —
// containers recorded from that same file that it no longer declares at all
// are removed. A container belongs to the file that made it: other files'
// containers are never orphans, one the file declares but does not select
// (autoStart = false, or started by name) stays until `down NAME` or until
// the file no longer declares it, and a file declaring a name another file
// (or `moat run`) already has is refused before anything is touched.
// Damaged records are handled as converge/damage.hpp says. The firewall is
// rendered whole from every container that will be running and committed
// once, between starting the inits and releasing them, so no service runs
// before its firewall; it is not committed at all when the rendered text
// equals the last commit and the table is still there (a second `up` changes
// nothing), and it is re-committed when someone deleted it (drift).
#pragma once

#include "firewall/firewall.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace moat::container {
class fork_server;
}

namespace moat::converge {

struct action {
    std::string container;
    // created | recreated | repaired | unchanged | removed, with the reason
    // in parentheses where it helps ("removed (no longer in FILE)")
    std::string what;
};

struct report {
    std::vector<action> actions;
    bool firewall_committed = false;
    bool changed() const;
};

// One progress line per step: (step description, elapsed time).
using progress_fn = std::function<void(const std::string&, std::chrono::microseconds)>;

struct up_options {
    std::string source;          // config file, recorded for `down -f`
    bool remove_orphans = true;  // the whole file was applied (no names given)
    // Every container the file declares, selected or not, and the internal
    // ones it plans: a container recorded from `source` that is not among
    // them is an orphan.
    std::set<std::string> declared;
    std::vector<std::string> secrets;  // host files no container may see (container::start_options::masks)
    progress_fn progress;
    // Clones the inits (container/fork_server.hpp); null: `up` forks them itself.
    container::fork_server* forks = nullptr;
};

report up(state::store& store, const plan::host_plan& plan, const up_options& opts);

// Removes the named containers (all when `names` is empty), then the
// firewall table if no container is left, then the state files. Damaged
// records are removed by what their names imply, and a damaged host.json
// is rebuilt first (damage.hpp); both are reported on stderr.
report down(state::store& store, const std::vector<std::string>& names, const progress_fn& progress = {});

// The networks the given containers use: from `planned` where it has
// them, else as recorded (containers of other files keep theirs), and the
// recorded ones kept when idle (CNI's keepWhenIdle) unless `drop_kept`.
// What sync_networks() must keep when `running` runs.
std::vector<plan::network_plan> networks_for(const state::store& store, const std::vector<plan::container_plan>& running,
                                             const std::vector<plan::network_plan>& planned, bool drop_kept = false);

// The firewall's input for the given plans (those with a veth).
firewall::spec firewall_spec(const std::vector<plan::container_plan>& plans);

// net.ipv4.conf.<link>.route_localnet for each link of the running
// containers: true only for a point-to-point veth or a bridge that carries
// a forward reachable from the host's 127.0.0.1 (the replies to such a
// forward arrive there addressed to 127.0.0.1); the table's localnet guard
// drops everything else such a setting would let in (firewall.hpp).
std::map<std::string, bool> route_localnet(const std::vector<plan::container_plan>& running);

// Commits the firewall for the given running containers (or removes the
// table when there are none), sets or restores the host sysctls they need
// and brings route_localnet of their links to route_localnet(); true when the table was committed. `force`: commit even when the
// text is unchanged (interfaces were recreated). `incremental`: the table
// may be changed in place by what differs (commit_firewall()): CNI ADD/DEL.
bool sync_firewall(state::store& store, const std::vector<plan::container_plan>& running, bool force = false,
                   bool incremental = false);

}  // namespace moat::converge
