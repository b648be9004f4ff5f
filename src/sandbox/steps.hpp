// The layers of drop_privileges() one by one (privileges.hpp has the theory).
// Each returns 0 or an errno value and never throws.
#pragma once

namespace moat::sandbox::detail {

int drop_capabilities() noexcept;
int set_no_new_privs() noexcept;
// Loads the program prepare_privileges() made for the current capability
// mask (no allocation), or compiles one on the spot when there is none.
int install_seccomp_filter() noexcept;

}  // namespace moat::sandbox::detail
