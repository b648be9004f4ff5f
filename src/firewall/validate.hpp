// Spec validation and normalisation for the renderer. Names end up as nft
// identifiers and quoted strings, so anything that could change the script's
// meaning (quotes, spaces, wildcards) is rejected here, before rendering.
#pragma once

#include <vector>

#include "firewall/firewall.hpp"

namespace moat::firewall {

// The endpoints of `s`, validated, sorted by name, with ports, addresses and
// forwards sorted and de-duplicated. Throws moat::error.
std::vector<endpoint> normalized(const spec& s);

}  // namespace moat::firewall
