#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

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

std::uint64_t also_kept = 0;

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

// Straight to prctl(2) and capget/capset(2), as the kernel documents them:
// libcap would cost every moat process its loading and its constructor's
// probing, and its cap_reset_ambient() asks about each capability in turn.
int drop_bounding_and_ambient(std::uint64_t keep) noexcept {
    // The running kernel may know capabilities newer than our headers: the
    // walk goes on until the kernel says there is no such one (EINVAL), so
    // those are dropped too.
    for (int c = 0; c < 64; ++c) {
        if (keep >> c & 1) {
            continue;
        }
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
            if (errno == EINVAL) {
                break;
            }
            return errno;
        }
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {  // EINVAL: kernel < 4.3
        return errno;
    }
    return 0;
}

int drop_capabilities() noexcept {
    const std::uint64_t mask = kept_capability_mask_with_extras();
    if (int e = drop_bounding_and_ambient(mask)) {
        return e;
    }
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct sets[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, sets) != 0) {
        return errno;
    }
    // Keep only what we hold now: asking for a permitted capability we do
    // not have (a rootless caller) would fail with EPERM. Inheritable: none.
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        const auto keep = static_cast<std::uint32_t>(mask >> (32 * i));
        sets[i].permitted &= keep;
        sets[i].effective = sets[i].permitted;
        sets[i].inheritable = 0;
    }
    return ::syscall(SYS_capset, &header, sets) == 0 ? 0 : errno;
}

}  // namespace detail

}  // namespace moat::sandbox
