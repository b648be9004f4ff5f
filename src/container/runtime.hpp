// The host side of a container's life: start (in two phases, so that the
// firewall can be committed once for all containers between them), stop,
// and enter.
//
// start: prepare() records intent, creates the cgroup, clones the init into
// new namespaces and wires its network; send_spec()/send_go()/await_ready()
// hand the init its specification and the go, and wait until its root file
// system is built. Services only start after the go, i.e. after the
// firewall is in place.
#pragma once

#include "plan/plan.hpp"
#include "container/relay.hpp"
#include "container/users.hpp"
#include "state/store.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace moat::container {

class fork_server;  // fork_server.hpp

enum class network_mode { host, private_net };

struct pending {
    state::container_record record;
    pid_t pid = -1;
    sys::unique_fd channel;   // handoff.hpp
    sys::unique_fd terminal;  // `moat run` in terminal mode: the master of the command's pty
    bool ready = false;       // the init answered "ok": its root is built
    bool released = false;    // it was told to go: its services start once it is ready
    plan::container_plan plan;  // what record.spec says, unparsed
    bool plan_inherited = false;  // the init is a copy of this process and has `plan` (spawn.hpp)
};

struct start_options {
    bool run_mode = false;              // `moat run`: one command, whose status is the init's
    std::vector<std::string> command;   // run_mode only
    // run_mode: the command's stdio (relay.hpp), never the caller's own —
    // three pipe ends, or, when `terminal` is set, a pty the init allocates
    // in the container's devpts and hands back (pending::terminal).
    std::array<int, 3> command_stdio{-1, -1, -1};
    std::optional<terminal_settings> terminal;
    std::string origin = "file";
    std::string source;
    // Host files the container must not see though its root shows them:
    // every pipe's key file and every tunnel's files of the configuration.
    std::vector<std::string> masks;
    // The uid ranges other containers hold (name -> base), from one scan of
    // the state directory by a caller that prepares many containers at once
    // (`up`, under the state lock); prepare() adds the one it picks. Null:
    // prepare() scans for itself. A scan reads every record, so N
    // containers each scanning would read N²/2 records (issue 17).
    uid_ranges* uid_bases = nullptr;
    // Where the init is cloned (fork_server.hpp): `up` starts many, from a
    // server forked before its heap grew. Null: this process forks it.
    fork_server* forks = nullptr;
};

// Every record's uid base, damaged ones included (their containers may
// still run as that uid), and the bases of other instances' running
// containers on this host: what start_options::uid_bases starts from.
uid_ranges uid_bases_in(const state::store& store);
// The same from a reading of the state directory the caller already has
// (under the lock it still holds).
uid_ranges uid_bases_in(const state::store& store, const state::listing& listing);

pending prepare(state::store& store, const plan::container_plan& plan, const start_options& opts);
// The release, in three parts (handoff.hpp), so that many inits can work
// at once, and build their roots while the caller commits the firewall: the
// spec, the go (sent only once the firewall and the routing are in place),
// and the wait for "ok", which throws with the init's own error message
// when it failed. go and wait in either order; the record says "running"
// after both.
void send_spec(const state::store& store, pending& p, const start_options& opts);
void send_go(state::store& store, pending& p);
void await_ready(state::store& store, pending& p);

// Stops the container's processes (SIGTERM to its init, then SIGKILL for the
// whole PID namespace and cgroup), deletes its veth, cgroup and conntrack
// entries (forget_flows). The record stays; the caller removes it once the
// firewall no longer names it. keep_link: the veth is left to the caller,
// which deletes many at once (netlink::socket::delete_links_if_owned) and
// then forgets their flows.
void stop(const state::container_record& record, std::chrono::milliseconds grace = std::chrono::seconds(8),
          bool keep_link = false);
// Deletes the host namespace's conntrack entries that name the containers'
// own addresses, in one dump of the table (netlink/conntrack.hpp), so that
// none of their flows outlives them and a later holder of an address
// inherits no NAT mapping. Called once their veths are gone: stop() does,
// and callers again once the firewall no longer forwards to them (a packet
// for a forward may create an entry until then). Best effort: records
// without a veth or readable addresses have nothing to flush, and a failure
// is a warning on stderr, never an error (removal must go on).
void forget_flows(std::span<const state::container_record> records);
// Sends the init SIGTERM and returns; stop() then waits for it.
void request_stop(const state::container_record& record);
// Throws unless what stop() removes can be removed from here: a record's
// cgroup needs the cgroup2 file system, which `ip netns exec` hides (it
// mounts a fresh /sys). Checked before anything is stopped, so that a
// `down` run there fails with the reason and changes nothing, rather than
// stopping the inits, dropping the records and leaving their cgroups.
void check_removable(std::span<const state::container_record> records);

// Whether the record's init is alive (a CNI attachment: whether its ADD
// completed).
bool running(const state::container_record& record);
// The container's network namespace as a path (/proc/<init>/ns/net, or a
// CNI attachment's CNI_NETNS) and the name of its end of the veth there.
std::string netns_path(const state::container_record& record);
std::string inner_ifname(const state::container_record& record);
// The moat instance (state::store::instance_id()) whose record this is: as
// recorded, else from its cgroup path (records of older moats); "" when
// neither says.
std::string instance_of(const state::container_record& record);

struct enter_options {
    std::string cwd = "/";  // where the command starts; / when it does not exist
};

// Runs argv inside the running container (all its namespaces and its cgroup,
// with the same reduced privileges as its services); returns the exit status
// (128 + N for signal N; 127/126 with a message when it cannot be executed).
// The command never gets a descriptor of the caller's: its stdio is a pty of
// the container's own devpts when stdin is a terminal, else three pipes, and
// moat relays (relay.hpp). Its environment is PATH, HOME=/root and TERM.
int enter(const state::container_record& record, const std::vector<std::string>& argv,
          const enter_options& opts = {});

}  // namespace moat::container
