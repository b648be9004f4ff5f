// [tunnels.<name>.portForwarding] (config/model.hpp port_forwarding): the
// reader of the table and the checks against the rest of the file — its
// container exists, is confined to this very tunnel, and the gateway is
// an IPv4 address (NAT-PMP is IPv4 only, RFC 6886).
#pragma once

#include "config/model.hpp"
#include "config/value_reader.hpp"

#include <optional>

namespace moat::config {

std::optional<port_forwarding> read_port_forwarding(value_reader& r, const tree_member& m, const std::string& context);

// Reports at the offending key; the loader throws after all checks ran.
void check_port_forwarding(diagnostics& d, const model& m);

}  // namespace moat::config
