// Raising a network namespace's loopback with one rtnetlink request of its
// own, without libnl: a container with no other link (`run --network none`,
// a declared container without a network) then never loads libnl
// (libnl.cpp), about 1.2 ms of its CLI's start.
#pragma once

namespace moat::netlink {

// Sets "lo" up in the namespace `netns_fd` and waits for the kernel's
// answer; throws errno_error with the kernel's reason if it refuses.
void raise_loopback(int netns_fd);

}  // namespace moat::netlink
