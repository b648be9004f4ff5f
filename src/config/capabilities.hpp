// Linux capability names, for NixOS's `additionalCapabilities` and for
// messages: the kernel's numbering (linux/capability.h), without libcap,
// so that the configuration stays pure data.
#pragma once

#include <string_view>
#include <vector>

namespace moat::config {

// The number of "CAP_NET_ADMIN" (12), or -1 for a name the kernel does not have.
int capability_number(std::string_view name);
// "CAP_CHOWN", ... for every number this table knows (for suggestions).
std::vector<std::string_view> capability_names();

}  // namespace moat::config
