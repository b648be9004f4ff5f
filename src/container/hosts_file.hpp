// /etc/hosts of a container with a network of its own: names on networks.
//
// Theory of operation. Members of a bridge network ([networks.X] with
// containers whose hostBridge is X) resolve each other by name, and every
// container with a private network resolves the host, through /etc/hosts
// alone: no DNS daemon to run, confine or keep alive, and glibc's and musl's
// "files" source reads the file again on every lookup, so a rewrite takes
// effect in running programs at once.
//
//  - The init writes the file into its private /run (/run/moat/hosts, owned
//    by the container's root) and bind-mounts it read-only on /etc/hosts
//    (rootfs.cpp), with itself, localhost and the host. No host path is
//    involved, so none shows in the container's mountinfo.
//  - `moat up`, `down` and `run` then rewrite the file of every running
//    container in place (sync_hosts): a bind mount pins the inode, so a
//    rename from outside would leave the container reading the old file. The
//    write goes through the container's own root (/proc/<init>/root with
//    openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) to a regular file owned
//    by the container's root: a container that replaced its /run/moat/hosts
//    (a symlink, a mount of another file) gets at most a write it could have
//    made itself, so whatever it does to the file only affects itself.
//  - The host is "host.containers.internal" (what Podman writes into
//    /etc/hosts) and "host.docker.internal" (Docker's name for the same,
//    which Podman also writes): the container's gateway, the host's address
//    on its veth or bridge. Whether the host answers is the firewall's
//    business (allowedHostTCPPorts).
//  - Containers that share the host's network (privateNetwork = false) keep
//    their root's /etc/hosts: they are the host as far as names go. A
//    container on a veth of its own (no hostBridge) sees only itself and the
//    host: it can reach no other container.
#pragma once

#include "plan/plan.hpp"
#include "state/store.hpp"

#include <string>
#include <vector>

namespace moat::container {

inline constexpr const char* hosts_host_names = "host.containers.internal host.docker.internal";

// The text of `self`'s /etc/hosts with `members` (other containers on its
// network) listed after it.
std::string render_hosts(const plan::container_plan& self, const std::vector<const plan::container_plan*>& members);

// Whether `p` gets a moat-written /etc/hosts at all.
bool has_own_hosts(const plan::container_plan& p);

// Rewrites /etc/hosts of every running container of `store` in place,
// with the running members of its network. Best effort per container:
// a container that is gone or broke its file is skipped, said in `notes`.
void sync_hosts(const state::store& store, std::vector<std::string>& notes);

}  // namespace moat::container
