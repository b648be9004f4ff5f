// User namespaces of containers (NixOS's privateUsers).
//
// Theory: with a user namespace, root inside a container is an ordinary,
// unprivileged uid of the host (the first of a 65536-uid range), and every
// capability it holds applies only to the namespaces that user namespace
// owns — its own network, mount, PID, UTS and IPC namespaces — never to the
// host's. So root inside cannot read the host's root-only files (they
// belong to a uid it does not have; CAP_DAC_OVERRIDE does not reach inodes
// whose owner is unmapped), cannot create device nodes (mknod of a device
// needs CAP_MKNOD in the initial user namespace), and cannot bind a host
// port below 1024 or change the host's firewall when it shares the host's
// network.
//
// Ranges for "pick" come from systemd-nspawn's span 0x00080000-0x6FFEFFFF,
// one 65536-uid block per container, the block chosen by a hash of the
// state directory and the container's name (stable across restarts, so its
// files keep their owner) and moved on past blocks that other containers
// of the same state directory hold. Block 0x6D74 is left out: moat's tunnel
// daemons run as uids from it (plan::tunnel_table).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace moat::container {

inline constexpr std::uint32_t id_range = 65536;

// A free base for "pick": `key` names the container (instance + name),
// `taken(base)` says whether another container uses that base.
std::uint32_t pick_uid_base(const std::string& key, const std::function<bool(std::uint32_t)>& taken);

// The uid bases containers hold, looked up both ways. `up` asks, for each
// of N containers, whether a base is another's: building the set of the
// others' bases for each of them was N² (issue 17, N = 1000).
class uid_ranges {
public:
    // `name` holds `base` (instead of what it held).
    void hold(const std::string& name, std::uint32_t base);
    bool holds(const std::string& name) const { return _by_name.count(name) > 0; }
    // Whether a container other than `name` holds `base`.
    bool held_by_other(std::uint32_t base, const std::string& name) const;

private:
    std::map<std::string, std::uint32_t> _by_name;
    std::multiset<std::uint32_t> _bases;  // several may share one ("base" ranges)
};

// The uid base of the processes in the container cgroup `cgroup`, read from
// the uid_map of the first one still alive: nullopt when it holds none, or
// none in a user namespace of a block of its own (base 0: "identity" or no
// user namespace). How `up` and `run` learn the blocks other instances'
// running containers hold: a block shared with one of them would make root
// in each the owner of the other's files, and both would count against the
// same per-uid limits of the host (inotify instances, RLIMIT_NPROC).
std::optional<std::uint32_t> uid_base_in_cgroup(const std::string& cgroup);

// Writes uid_map and gid_map of `pid` (whose user namespace is new):
// 0-65535 inside are base..base+65535 outside.
void write_id_maps(pid_t pid, std::uint32_t base);

}  // namespace moat::container
