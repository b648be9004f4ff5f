// Every key the configuration schema accepts, as paths such as
// "containers.<name>.forwardPorts[].hostPort", for the test that keeps
// docs/moat.toml.5.md (the configuration reference) complete and true.
#pragma once

#include <string>
#include <vector>

namespace moat::config {

// In the mapper's order. A named table's members appear under ".<name>."
// (containers, services, bindMounts: "<name>" is a mount point there), an
// array of tables' under "[].", and the path of each table is listed too
// ("containers", "containers.<name>", "containers.<name>.firewall").
std::vector<std::string> schema_keys();

}  // namespace moat::config
