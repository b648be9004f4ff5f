// The layers of drop_privileges() one by one (privileges.hpp has the theory).
// Each returns 0 or an errno value and never throws.
#pragma once

#include <cstdint>

namespace moat::sandbox::detail {

// The bounding set down to `keep` (1 << CAP_*), capabilities the kernel
// knows beyond our headers included, and the ambient set emptied. Needs
// CAP_SETPCAP; the tunnel runner's daemons use it with keep = 0.
int drop_bounding_and_ambient(std::uint64_t keep) noexcept;
int drop_capabilities() noexcept;
int set_no_new_privs() noexcept;
// Loads the program prepare_privileges() made for the current capability
// mask (no allocation), or compiles one on the spot when there is none.
int install_seccomp_filter() noexcept;

}  // namespace moat::sandbox::detail
