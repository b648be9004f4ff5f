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
#include <set>
#include <string>

namespace moat::container {

inline constexpr std::uint32_t id_range = 65536;

// A free base for "pick": `key` names the container (instance + name),
// `taken` holds the bases other containers use.
std::uint32_t pick_uid_base(const std::string& key, const std::set<std::uint32_t>& taken);

// Writes uid_map and gid_map of `pid` (whose user namespace is new):
// 0-65535 inside are base..base+65535 outside.
void write_id_maps(pid_t pid, std::uint32_t base);

}  // namespace moat::container
