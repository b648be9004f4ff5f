// Content digests of the files a definition depends on.
//
// Theory of operation: a plan names files whose content the kernel objects
// never show — a pipe's key file (copied into its container when it
// starts), a tunnel's .ovpn or wg-quick file and the files an .ovpn names
// (bound into `_tunnels` and read when its runner starts). Their paths
// alone would let `up` call an edited file "unchanged", so the plan also
// carries a digest of each one's content: the plan's hash (plan.hpp) then
// differs exactly when a file's content does, and converge recreates the
// container that reads it — that container only (a pipe's, `_pipes` or
// `_tunnels`), never the containers confined to a tunnel.
//
// The digest is SHA-256 over a fixed label and the content, not FNV: it
// lands in the state record, in `moat plan`'s output and in the runner's
// argv, and spiped's key *is* SHA-256(key file) — a plain SHA-256 would
// publish the pipe's key. The label separates the two (recovering the key
// from a digest means inverting SHA-256), and a cryptographic hash also
// means two contents cannot be made to collide into "unchanged".
#pragma once

#include "plan/plan.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace moat::plan {

// 64 lower-case hex digits. Throws std::system_error when the file cannot
// be read.
std::string file_digest(const std::string& path);
std::string text_digest(const std::string& content);

// Why the recorded plan `old_spec` differs from `p` when files it depends
// on changed: "key file /etc/k changed", "tunnel vpn: /etc/vpn.conf
// changed", joined by ", "; empty when no depended-on file changed.
std::string changed_files(const nlohmann::json& old_spec, const container_plan& p);

}  // namespace moat::plan
