// Build-time generator of sandbox/seccomp_tables.hpp: the native number of
// every system call the profile names, this architecture's AUDIT_ARCH_*,
// and the whole program for Docker's default capability set, which is what
// every container process keeps unless its config asks for more.
//
// libseccomp is needed here only. At run time it cost every moat process
// its loading, and every container's init compiling the same program again
// while its start waited (0.6-0.7 ms, mostly first touches of libseccomp's
// tables and of the init's copy-on-write heap). Syscall numbers are the
// kernel's ABI for an architecture, so resolving them when moat is built
// for that architecture gives the answers libseccomp would give later; a
// cross build would need libseccomp's tables for the target (not handled:
// CMake refuses to cross-compile this).
#include "sandbox/privileges.hpp"
#include "sandbox/seccomp_emit.hpp"
#include "sandbox/seccomp_profile.hpp"

#include <seccomp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace moat::sandbox;

// libseccomp's answer, or -1 where the name is unknown to it (newer) or has
// only its pseudo-number for another architecture.
int libseccomp_number(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

std::vector<std::pair<std::string, int>> numbers() {
    std::vector<std::pair<std::string, int>> out;
    for (const char* name : named_syscalls()) {
        out.emplace_back(name, libseccomp_number(name));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: moat_seccomp_gen OUTPUT.hpp\n";
        return 2;
    }
    const std::uint32_t arch = seccomp_arch_native();
    const std::uint64_t caps = kept_capability_mask();
    auto program = detail::emit_seccomp_program(caps, libseccomp_number, arch);
    if (program.code.size() > BPF_MAXINSNS) {
        std::cerr << "moat_seccomp_gen: the default program has " << program.code.size() << " instructions\n";
        return 1;
    }
    std::string text =
        "// Generated at build time by moat_seccomp_gen (src/sandbox/seccomp_gen.cpp)\n"
        "// from seccomp_profile.cpp and libseccomp " +
        std::to_string(seccomp_version()->major) + "." + std::to_string(seccomp_version()->minor) + "." +
        std::to_string(seccomp_version()->micro) +
        ". Do not edit.\n"
        "#pragma once\n\n#include <linux/filter.h>\n\n#include <cstdint>\n\n"
        "namespace moat::sandbox::generated {\n\n"
        "struct syscall_number {\n    const char* name;\n    int number;  // -1: none on this architecture\n};\n\n"
        "inline constexpr std::uint32_t native_arch = " + hex(arch) + ";\n\n"
        "// Sorted by name (strcmp), for a binary search.\n"
        "inline constexpr syscall_number syscall_numbers[] = {\n";
    for (const auto& [name, nr] : numbers()) {
        text += "    {\"" + name + "\", " + std::to_string(nr) + "},\n";
    }
    text += "};\n\n// The program for kept_capability_mask(), as seccomp_filter.cpp would compile it.\n"
            "inline constexpr std::uint64_t default_capabilities = " + hex(caps) + ";\n"
            "inline constexpr std::uint32_t default_highest = " + std::to_string(program.highest) + ";\n"
            "inline constexpr sock_filter default_program[] = {\n";
    for (const auto& f : program.code) {
        text += "    {" + hex(f.code) + ", " + std::to_string(f.jt) + ", " + std::to_string(f.jf) + ", " + hex(f.k) +
                "},\n";
    }
    text += "};\n\n}  // namespace moat::sandbox::generated\n";
    std::ofstream out(argv[1], std::ios::trunc);
    out << text;
    if (!out.flush()) {
        std::cerr << "moat_seccomp_gen: cannot write " << argv[1] << "\n";
        return 1;
    }
    return 0;
}
