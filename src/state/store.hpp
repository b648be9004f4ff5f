// The state directory: what moat made, written down BEFORE it is made.
//
// `moat up` exits after starting containers, so everything `down`, `status`,
// `exec` and `logs` need later lives here. The rule that makes `down` safe
// after a kill -9 at any point of `up`: a record naming a kernel object,
// cgroup or process is saved (atomically and durably: a unique temporary in
// the same directory, fsync, rename, fsync of the directory) before the
// object is created, and every teardown step tolerates the object being
// absent. A record may therefore name things that never came to exist; it
// never misses something that does.
//
// Layout of <state-dir> (default /run/moat):
//   host.json                     host-wide objects: the nftables table, sysctls, bridges, routing
//   containers/<name>/record.json one container's record
//   containers/<name>/logs/       service logs, init.log, services.json (owned by the
//                                 container's root uid when it has a user namespace);
//                                 kept when `up` recreates or repairs the container
//                                 (see remove()), bounded by the init's rotation
//   .host.json.tmp-<random>, containers/.<name>.new-<random>, containers/.<name>.gone-<random>
//                                 a file or directory being written or removed; one a
//                                 kill -9 left behind is removed under the lock
//
// The lock is flock(2) on the state directory itself, held by every
// mutating command for its whole run. `down` removes the directory while it
// holds the lock; a command that was waiting finds, once it has the lock,
// that the directory it holds is gone (no links left) or is not the one at
// the path any more, and starts again with the current one. No lock file
// exists that `down` could unlink under a waiter.
//
// Ownership. The directory must belong to the caller and be writable by no
// one else: records name cgroups to kill and processes to join, so whoever
// could write one could make root do either (moat::usage_error, exit 2,
// otherwise). moat creates it with mode 0700 and never changes the mode of
// a directory it did not create.
//
// Damage. Every record names its owner redundantly: the directory's name is
// the container's name, its cgroup is <cgroup2>/moat/<instance id>/<name>,
// its host veth plan::host_link_name(name). A record that is missing, empty,
// truncated, unparsable, or disagrees with its directory's name is
// reported as damaged — never dropped and never fatal — so `down` can
// still remove what the name implies; an entry of containers/ whose name
// is not a container name is foreign and left alone by every command.
// host.json keeps its small, vital fields first (the table flag, sysctls
// with the values to restore, bridges, routing) and the large ruleset texts
// last, and a damaged one is salvaged field by field up to where it breaks.
#pragma once

#include "sys/process.hpp"
#include "sys/unique_fd.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moat::state {

struct container_record {
    std::string name;
    std::string origin = "file";   // "file" (from a config file), "run" (moat run) or "cni" (a CNI attachment)
    std::string source;            // config file path for origin "file"
    std::string config_hash;       // of the container's definition, for convergence
    std::string status = "starting";  // starting | running | stopping (a `down` began) | exited
    sys::process_id init;          // the container's PID 1 as seen from the host
    std::string cgroup;            // absolute cgroup directory; empty when none
    // store::instance_id() of the moat that made it: the owner mark its veth
    // carries. Empty in records of older moats, which said it only in their
    // cgroup's path (container::instance_of), and a container without a
    // cgroup (no cgroup v2 mount: `ip netns exec` remounts /sys) not at all.
    std::string instance;
    std::string host_if;           // host end of the veth; empty when none
    // First host uid/gid of the container's user namespace (its root);
    // unset without one. Chosen by `up` for privateUsers = "pick".
    std::optional<std::uint32_t> uid_base;
    nlohmann::json spec;           // the resolved definition: addresses, egress, firewall, services
    // Origin "cni": the attachment (cni/plugin.hpp) — network, container_id,
    // ifname, netns, and the moat instance whose mark its veth carries (a
    // pod has no cgroup of moat's to name it). Null otherwise.
    nlohmann::json cni;
};

// A container directory whose record cannot be used.
struct damaged_record {
    std::string name;     // the directory's name, a valid container name
    std::string file;     // relative to the state dir: "containers/<name>/record.json"
    std::string problem;  // what is wrong with it, for people
    // What the damaged record still says, when it says it in a usable form
    // (its init's identity is checked by start time before any signal).
    sys::process_id init;
    std::string cgroup;
    std::optional<std::uint32_t> uid_base;
};

struct listing {
    std::vector<container_record> records;  // intact, by name
    std::vector<damaged_record> damaged;    // by name
    std::vector<std::string> foreign;       // "containers/<entry>": not made by moat, left alone
};

struct host_record {
    bool nft_table = false;        // `inet moat` may exist and is ours
    std::string nft_ruleset;       // the script last committed, to detect "no change"
    // An older moat's listing of its table right after its commit; read
    // (check compares with it while nft_ruleset is empty), no longer made:
    // check commits nft_ruleset in a scratch namespace instead.
    std::string nft_listing;
    // Bridge networks that may exist, by name: plan::network_plan JSON.
    std::map<std::string, nlohmann::json> networks;
    // Host sysctls moat changed, by key ("net/ipv6/conf/all/forwarding"),
    // with the value to restore.
    std::map<std::string, std::string> sysctls;
    // Policy routing for VPN confinement (converge/routing.hpp), as JSON.
    std::vector<nlohmann::json> routes;
    std::vector<nlohmann::json> rules;
    bool empty() const { return !nft_table && networks.empty() && sysctls.empty() && routes.empty() && rules.empty(); }
};

// host.json as far as it could be read: `problem` is empty when intact;
// otherwise `record` holds the fields that were readable up to the damage.
struct host_reading {
    host_record record;
    std::string problem;
};

// The held lock (see above); released when destroyed.
class state_lock {
public:
    state_lock() = default;
    state_lock(sys::unique_fd fd, bool created) : _fd(std::move(fd)), _created(created) {}
    bool held() const { return static_cast<bool>(_fd); }
    // This lock() made the state directory (it did not exist before).
    bool created() const { return _created; }
    void reset() { _fd.reset(); }

private:
    sys::unique_fd _fd;
    bool _created = false;
};

class store {
public:
    // Names the state directory; touches nothing.
    explicit store(std::string dir);
    // Removes the logs of containers remove()d and not saved again (see
    // there). That takes the lock: release yours first.
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::string& dir() const { return _dir; }
    // Whether the state directory exists; throws usage_error when it does
    // but is not the caller's or others could write it. Read-only commands
    // ask this and create nothing.
    bool exists() const;
    // Exclusive lock for the whole command, creating the directory (0700)
    // when it is missing; the ownership check of exists() applies.
    state_lock lock();
    // The same for a directory that must exist already: not held when it
    // does not (nothing is recorded, so there is nothing to remove).
    state_lock lock_existing();
    // A stable id of this state directory, used to keep two moat instances'
    // cgroups apart ("moat/<id>/<name>").
    std::string instance_id() const;

    // Every entry of containers/: intact records, damaged ones, foreign ones.
    listing scan() const;
    // The intact records only (scan().records).
    std::vector<container_record> containers() const;
    // One container's record: nullopt when there is no such container;
    // throws moat::error naming the file when its record is damaged.
    std::optional<container_record> load(const std::string& name) const;
    // Whether a directory for `name` exists, intact or damaged.
    bool has(const std::string& name) const;
    void save(const container_record& r);
    // Removes the container's directory: its record first, then all but
    // logs/, which waits for the end of the command (collect()) and goes
    // only if no record was saved under that name again by then: `up`
    // recreating or repairing a container removes the old one and records
    // the new one in one command, and the new init appends to the logs the
    // old one wrote; `down`, `run --rm` and a container dropped from the
    // file leave nothing. Refuses a name that is not a container name.
    void remove(const std::string& name);
    // remove() with its logs at once: for a container nothing in this
    // command records again (`run --rm`), so that the end of the command
    // need not take the lock again to collect them.
    void remove_with_logs(const std::string& name);
    std::string container_dir(const std::string& name) const;
    // The init's services.json of a container ("services" object; empty
    // when it has not written one).
    nlohmann::json services(const std::string& name) const;
    // Removes the state directory itself when nothing is recorded any more,
    // so that `down` leaves no state files behind; first removes the logs
    // of the containers this store removed (collect()). Call it with the
    // lock held.
    void remove_if_empty();

    // host.json; throws moat::error naming the file when it is damaged.
    host_record host() const;
    // host.json as far as it can be read; never throws for its content.
    host_reading read_host() const;
    void save_host(const host_record& h);

private:
    state_lock acquire(bool create);
    // Keeps `reading` as what the file `st` describes holds (read_host()).
    void remember_host(const struct stat& st, const host_reading& reading) const;
    void remove_leftovers() const;
    // Checks the name, unlinks the container's record; its directory.
    std::string drop_record(const std::string& name);
    // Removes the directories of the containers remove() took whose record
    // did not come back (their logs). The lock must be held. Only names this
    // store removed: a directory without a record that someone else left is
    // a damaged record, which `down` handles by its name.
    void collect_locked();
    // remove() took it in this command and no record came back.
    bool removed_here(const std::string& name) const;

    std::string _dir;
    std::set<std::string> _removed;  // by remove(): their logs wait for collect()
    // host.json as this store last read or wrote it, with the identity of
    // the file it was in (host_file.cpp): read_host() parses the file again
    // only when another file is at the path or this one changed.
    struct host_snapshot {
        std::uint64_t dev = 0, ino = 0, size = 0;
        std::int64_t mtime_ns = 0, ctime_ns = 0;
        host_reading reading;
    };
    mutable std::optional<host_snapshot> _host_cache;
    mutable std::string _instance_id;  // instance_id(), once computed
    bool _leftovers_removed = false;   // by the first lock of this store (acquire())
};

nlohmann::json to_json(const container_record& r);
container_record record_from_json(const nlohmann::json& j);
// Why `j` is not a usable record of the container directory `name`, or
// nullopt: the name, the fields `down` needs, the cgroup and veth its name
// implies, and a spec that plans.
std::optional<std::string> record_problem(const nlohmann::json& j, const std::string& name);
// Whether `name` may be a directory of containers/: a container name
// (config::name_problem) or one of moat's internal containers.
bool container_name_ok(const std::string& name);

// "it is not valid JSON from byte N of M, truncated?", for people.
std::string not_json(std::size_t byte, std::size_t size);

// host.json's content: vital fields first (see above).
std::string host_text(const host_record& h);
// Reads host.json's text; on damage fills `problem` and salvages.
host_reading host_from_text(const std::string& text);

}  // namespace moat::state
