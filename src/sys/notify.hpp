// sd_notify(3) without libsystemd: the service manager's readiness and
// watchdog protocol, spoken by `moat up --foreground` and `moat check --watch`.
//
// Theory of operation: the protocol is small, stable and documented
// (sd_notify(3), "NOTIFY_SOCKET" in systemd.exec(5)): the manager puts the
// path of an AF_UNIX datagram socket in $NOTIFY_SOCKET ("/run/systemd/notify",
// or "@name" for the abstract namespace), and the service sends newline-
// separated KEY=VALUE assignments, one datagram per message: READY=1,
// STOPPING=1, STATUS=<text>, WATCHDOG=1. The manager identifies the sender by
// SO_PEERCRED/SCM_CREDENTIALS, so nothing else is needed. Writing it here is a
// dozen lines; linking libsystemd would add a shared library (and its own
// dependencies) to every `moat` start for that, and libsystemd-dev to the
// build, where a packager of a systemd-less system wants none.
//
// Without $NOTIFY_SOCKET every call does nothing, so callers need not ask.
// A failed send is not an error of moat's work: the manager is gone or the
// socket full, and the unit's own timeouts say so; it returns false.
#pragma once

#include <string>

namespace moat::sys {

// Whether $NOTIFY_SOCKET is set (a service manager listens).
bool notify_enabled();
// Sends `message` (e.g. "READY=1\nSTATUS=3 containers running") as one
// datagram; false when not enabled or the send failed.
bool notify(const std::string& message);

}  // namespace moat::sys
