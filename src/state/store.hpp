// The state directory: what moat made, written down BEFORE it is made.
//
// `moat up` exits after starting containers, so everything `down`, `status`,
// `exec` and `logs` need later lives here. The rule that makes `down` safe
// after a kill -9 at any point of `up`: a record naming a kernel object,
// cgroup or process is saved (atomically: temp file, fsync, rename) before
// the object is created, and every teardown step tolerates the object being
// absent. A record may therefore name things that never came to exist; it
// never misses something that does.
//
// Layout of <state-dir> (default /run/moat):
//   lock                          flock(2) held by every mutating command
//   host.json                     host-wide objects: the nftables table, bridges, sysctls
//   containers/<name>/record.json one container's record
//   containers/<name>/logs/       service logs, init.log, services.json (owned by the
//                                 container's root uid when it has a user namespace);
//                                 kept when `up` recreates or repairs the container
//                                 (see remove()), bounded by the init's rotation
#pragma once

#include "sys/process.hpp"
#include "sys/unique_fd.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moat::state {

struct container_record {
    std::string name;
    std::string origin = "file";   // "file" (from a config file) or "run" (moat run)
    std::string source;            // config file path for origin "file"
    std::string config_hash;       // of the container's definition, for convergence
    std::string status = "starting";  // starting | running | exited
    sys::process_id init;          // the container's PID 1 as seen from the host
    std::string cgroup;            // absolute cgroup directory; empty when none
    std::string host_if;           // host end of the veth; empty when none
    // First host uid/gid of the container's user namespace (its root);
    // unset without one. Chosen by `up` for privateUsers = "pick".
    std::optional<std::uint32_t> uid_base;
    nlohmann::json spec;           // the resolved definition: addresses, egress, firewall, services
};

struct host_record {
    bool nft_table = false;        // `inet moat` may exist and is ours
    std::string nft_ruleset;       // the script last committed, to detect "no change"
    std::string nft_listing;       // the kernel's listing of it right after: what `moat check` compares
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

class store {
public:
    // Opens (creating if needed, mode 0700) the state directory.
    explicit store(std::string dir);
    // Removes the logs of containers remove()d and not saved again (see
    // there). That takes the lock: release yours first.
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::string& dir() const { return _dir; }
    // Exclusive lock for the whole command; released when the fd closes.
    sys::unique_fd lock();
    // A stable id of this state directory, used to keep two moat instances'
    // cgroups apart ("moat/<id>/<name>").
    std::string instance_id() const;

    std::vector<container_record> containers() const;
    std::optional<container_record> load(const std::string& name) const;
    void save(const container_record& r);
    // Removes the container's directory (record, rootfs mount point), its
    // logs/ only once this store is done with (the end of the command) and
    // only if no record was saved under that name again by then: `up`
    // recreating or repairing a container removes the old one and records
    // the new one in one command, and the new init appends to the logs the
    // old one wrote; `down`, `run --rm` and a container dropped from the
    // file leave nothing.
    void remove(const std::string& name);
    std::string container_dir(const std::string& name) const;
    // The init's services.json of a container ("services" object; empty
    // when it has not written one).
    nlohmann::json services(const std::string& name) const;
    // Removes the state directory itself when nothing is recorded any more,
    // so that `down` leaves no state files behind. First removes the
    // directories of containers without a record (collect()).
    void remove_if_empty();

    host_record host() const;
    void save_host(const host_record& h);

private:
    // Removes every container directory that holds no record (logs that
    // outlived their record, or what a crash between remove() and save()
    // left), under the lock: no other moat is then between prepare()'s
    // mkdir of a logs directory and its record. Takes the lock only when
    // there is something to remove. Never throws.
    void collect() noexcept;

    std::string _dir;
    std::set<std::string> _removed;  // by remove(): their logs wait for collect()
};

nlohmann::json to_json(const container_record& r);
container_record record_from_json(const nlohmann::json& j);

}  // namespace moat::state
