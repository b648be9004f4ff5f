#include "sys/title.hpp"

#include <sys/prctl.h>

#include <cstring>

namespace moat::sys {

namespace {

char* area_start = nullptr;
std::size_t area_size = 0;

}  // namespace

void remember_arguments(int argc, char** argv) noexcept {
    if (argc < 1 || !argv || !argv[0]) {
        return;
    }
    // The strings are contiguous only as execve laid them out; stop at the
    // first that is not directly after its predecessor.
    char* end = argv[0] + std::strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; ++i) {
        end = argv[i] + std::strlen(argv[i]) + 1;
    }
    area_start = argv[0];
    area_size = static_cast<std::size_t>(end - argv[0]);
}

void set_title(const char* comm, const char* const* words) noexcept {
    ::prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (!area_start || area_size < 2) {
        return;
    }
    std::size_t at = 0;
    for (const char* const* w = words; *w && at + 1 < area_size; ++w) {
        std::size_t n = std::strlen(*w);
        if (at + n + 1 > area_size) {
            n = area_size - at - 1;
        }
        std::memcpy(area_start + at, *w, n);
        at += n;
        area_start[at++] = '\0';
    }
    std::memset(area_start + at, 0, area_size - at);
}

}  // namespace moat::sys
