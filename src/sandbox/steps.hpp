// The layers of drop_privileges() one by one (privileges.hpp has the theory).
// Each returns 0 or an errno value and never throws.
#pragma once

namespace moat::sandbox::detail {

int drop_capabilities() noexcept;
int set_no_new_privs() noexcept;
int install_seccomp_filter() noexcept;

}  // namespace moat::sandbox::detail
