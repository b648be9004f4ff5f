// The seccomp program as a pure function of the profile (seccomp_profile.hpp),
// the capabilities a process keeps and how this architecture numbers its
// system calls. The build's generator (seccomp_gen.cpp) runs it with
// libseccomp's names once, for Docker's default capability set; the
// runtime (seccomp_filter.cpp) runs it only for a process keeping more, with
// the table the generator wrote. seccomp_filter.cpp's header has the
// program's shape.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moat::sandbox::detail {

// The low 32 bits of argument i. The kernel reads the arguments checked
// here as 32-bit values (socket's family, ioctl's request, personality are
// ints; clone() takes lower_32_bits of its flags), while seccomp sees the
// whole register: comparing the low word only means bits the kernel ignores
// cannot change the answer. (libseccomp 2.5 compares all 64 bits, so a
// "family > AF_VSOCK" rule there passes AF_VSOCK with a high bit set.)
constexpr std::uint32_t seccomp_arg_low(unsigned i) {
    return static_cast<std::uint32_t>(offsetof(seccomp_data, args) + 8 * i +
                                      (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0));
}

// A system call's native number, or -1 where the name has none here.
using syscall_resolver = int (*)(const char* name);

struct emitted_program {
    std::vector<sock_filter> code;
    std::uint32_t highest = 0;  // numbers above it are answered ENOSYS
};

// Throws std::logic_error if the program cannot be assembled (a jump out
// of reach), which a test of every capability set would show first.
emitted_program emit_seccomp_program(std::uint64_t caps, syscall_resolver resolve, std::uint32_t native_arch);

// The generated table's answers (seccomp_filter.cpp): the number of a name
// the profile mentions, or -1; and the AUDIT_ARCH_* of the build.
int native_syscall_number(const char* name) noexcept;
std::uint32_t native_audit_arch() noexcept;

}  // namespace moat::sandbox::detail
