// Raising a network namespace's loopback with one rtnetlink request of its
// own, without libnl: a container's init raises its own (container/
// init_main.cpp), so a container with no other link (`run --network none`,
// a declared container without a network) never loads libnl (libnl.cpp),
// about 1.2 ms of its CLI's start.
#pragma once

namespace moat::netlink {

// Sets "lo" up in the calling thread's network namespace and waits for
// the kernel's answer; throws errno_error with the kernel's reason if it
// refuses.
void raise_own_loopback();

}  // namespace moat::netlink
