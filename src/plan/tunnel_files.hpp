// Internal to moat::plan: the OpenVPN side of plan_tunnel (tunnel_files.cpp).
#pragma once

#include "config/model.hpp"
#include "plan/host_secrets.hpp"
#include "plan/tunnel.hpp"

#include <string>
#include <vector>

namespace moat::plan::detail {

// The files an OpenVPN config names (absolute, each once), each checked
// to be a readable regular file and none of the host's secrets. Throws
// usage_error "<file>:<line>: ...".
std::vector<std::string> ovpn_files(const std::string& text, const std::string& file, bool moat_credentials,
                                    const host_secrets& secrets);

// The tunnel's username/passwordFile or credentialsFile into `p`, each
// file checked (as above) and its digest recorded. Throws usage_error at the key.
void plan_credentials(const config::tunnel& t, tunnel_plan& p, const host_secrets& secrets);

}  // namespace moat::plan::detail
