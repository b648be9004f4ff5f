#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"

#include <linux/capability.h>
#include <sys/capability.h>

#include <cerrno>
#include <memory>

namespace moat::sandbox {

namespace {

// Docker's default set (moby/oci/caps/defaults.go) minus CAP_MKNOD: a
// service that worked under `docker run` works here unless it makes device
// nodes (the device filter would refuse every one that matters anyway).
// A container that needs it asks with additionalCapabilities.
constexpr kept_capability kept[] = {
    {CAP_CHOWN, "CAP_CHOWN"},
    {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
    {CAP_FSETID, "CAP_FSETID"},
    {CAP_FOWNER, "CAP_FOWNER"},
    {CAP_NET_RAW, "CAP_NET_RAW"},  // ping; confined to the container's namespace
    {CAP_SETGID, "CAP_SETGID"},
    {CAP_SETUID, "CAP_SETUID"},
    {CAP_SETFCAP, "CAP_SETFCAP"},
    {CAP_SETPCAP, "CAP_SETPCAP"},  // only lets a process shrink its own sets further
    {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
    {CAP_SYS_CHROOT, "CAP_SYS_CHROOT"},
    {CAP_KILL, "CAP_KILL"},  // the PID namespace limits whom it can reach
    {CAP_AUDIT_WRITE, "CAP_AUDIT_WRITE"},
};

struct cap_deleter {
    void operator()(void* p) const noexcept { cap_free(p); }
};
using cap_ptr = std::unique_ptr<std::remove_pointer_t<cap_t>, cap_deleter>;

std::uint64_t also_kept = 0;

bool is_kept(cap_value_t c) noexcept {
    if (c < 64 && (also_kept >> c & 1)) {
        return true;
    }
    for (const auto& k : kept) {
        if (k.number == c) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::span<const kept_capability> kept_capabilities() { return kept; }

void keep_also(std::uint64_t mask) noexcept { also_kept |= mask; }

std::uint64_t kept_capability_mask() {
    std::uint64_t mask = 0;
    for (const auto& k : kept) {
        mask |= std::uint64_t{1} << k.number;
    }
    return mask;
}

std::uint64_t kept_capability_mask_with_extras() noexcept { return kept_capability_mask() | also_kept; }

namespace detail {

int drop_capabilities() noexcept {
    // The running kernel may know capabilities newer than our headers;
    // cap_max_bits() asks the kernel, so those are dropped too.
    const cap_value_t max = cap_max_bits();
    for (cap_value_t c = 0; c < max; ++c) {
        if (!is_kept(c) && CAP_IS_SUPPORTED(c) && cap_drop_bound(c) != 0) {
            return errno;
        }
    }
    if (cap_reset_ambient() != 0 && errno != EINVAL) {  // EINVAL: kernel < 4.3, no ambient set
        return errno;
    }
    cap_ptr current(cap_get_proc());
    cap_ptr wanted(cap_init());  // all three sets empty
    if (!current || !wanted) {
        return errno ? errno : ENOMEM;
    }
    // Keep only what we hold now: asking for a permitted capability we do
    // not have (a rootless caller) would fail with EPERM.
    for (cap_value_t v = 0; v < max; ++v) {
        if (!is_kept(v)) {
            continue;
        }
        cap_flag_value_t have = CAP_CLEAR;
        if (cap_get_flag(current.get(), v, CAP_PERMITTED, &have) == 0 && have == CAP_SET) {
            if (cap_set_flag(wanted.get(), CAP_PERMITTED, 1, &v, CAP_SET) != 0 ||
                cap_set_flag(wanted.get(), CAP_EFFECTIVE, 1, &v, CAP_SET) != 0) {
                return errno;
            }
        }
    }
    return cap_set_proc(wanted.get()) == 0 ? 0 : errno;
}

}  // namespace detail

}  // namespace moat::sandbox
