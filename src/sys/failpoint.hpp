// Crash injection for the crash-safety tests: `MOAT_FAILPOINT=<name>` makes
// moat SIGKILL itself when it reaches that point, exactly like a kill -9 from
// outside but deterministic. Costs one getenv per point when unset.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace moat::sys {

inline void failpoint(const char* name) {
    const char* want = std::getenv("MOAT_FAILPOINT");
    if (want && std::strcmp(want, name) == 0) {
        ::kill(::getpid(), SIGKILL);
    }
}

}  // namespace moat::sys
