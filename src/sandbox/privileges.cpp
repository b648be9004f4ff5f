#include "sandbox/privileges.hpp"

#include "sandbox/steps.hpp"
#include "sys/error.hpp"

namespace moat::sandbox {

namespace {

struct step {
    int (*run)() noexcept;
    const char* doing;
};

// The order is the theory's: capabilities need CAP_SETPCAP, which is kept,
// and the seccomp filter needs no_new_privs (we hold no CAP_SYS_ADMIN then).
constexpr step steps[] = {
    {detail::drop_capabilities, "dropping capabilities"},
    {detail::set_no_new_privs, "setting no_new_privs"},
    {detail::install_seccomp_filter, "installing the seccomp filter"},
};

}  // namespace

int drop_privileges_noexcept() noexcept {
    for (const auto& s : steps) {
        if (int err = s.run(); err != 0) {
            return err;
        }
    }
    return 0;
}

void drop_privileges() {
    for (const auto& s : steps) {
        if (int err = s.run(); err != 0) {
            throw sys::errno_error(s.doing, err);
        }
    }
}

}  // namespace moat::sandbox
