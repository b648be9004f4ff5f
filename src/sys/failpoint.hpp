// Crash injection for the crash-safety tests: `MOAT_FAILPOINT=<name>` makes
// moat SIGKILL itself when it reaches that point, exactly like a kill -9 from
// outside but deterministic; `MOAT_FAILPOINT=throw:<name>` throws a
// moat::error there instead, like a failing system call, so the error paths
// (roll back) are tested too; `MOAT_FAILPOINT=stop:<name>` stops moat
// there (SIGSTOP) until a test sends SIGCONT, to look at a half-done
// command from outside. Costs one getenv per point when unset.
#pragma once

#include "sys/error.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace moat::sys {

inline void failpoint(const char* name) {
    const char* want = std::getenv("MOAT_FAILPOINT");
    if (!want) {
        return;
    }
    if (std::strcmp(want, name) == 0) {
        ::kill(::getpid(), SIGKILL);
    }
    if (std::strncmp(want, "stop:", 5) == 0 && std::strcmp(want + 5, name) == 0) {
        ::raise(SIGSTOP);
    }
    if (std::strncmp(want, "throw:", 6) == 0 && std::strcmp(want + 6, name) == 0) {
        throw moat::error(std::string("failpoint ") + name);
    }
}

}  // namespace moat::sys
