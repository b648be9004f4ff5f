// raise_loopback(): lo up in another namespace with a request of its own,
// the calling thread left where it was.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <algorithm>

#include "netlink/loopback.hpp"
#include "netlink/netns.hpp"
#include "netlink_lab.hpp"

namespace moat::netlink::test {
namespace {

bool is_up(const nlohmann::json& link) {
    const auto& flags = link.at("flags");
    return std::find(flags.begin(), flags.end(), "UP") != flags.end();
}

TEST(netlink_loopback, raises_lo_in_the_namespace_and_nowhere_else) {
    lab_ns ns;
    // Positive control: a new namespace's lo starts down.
    ASSERT_FALSE(is_up(ns.link("lo"))) << ns.link("lo");
    auto before = current_netns_inode();
    raise_loopback(ns.fd());
    EXPECT_EQ(current_netns_inode(), before);
    EXPECT_TRUE(is_up(ns.link("lo"))) << ns.link("lo");
    // Traffic flows on it: a ping to 127.0.0.1 inside the lab.
    EXPECT_EQ(run("ip netns exec " + ns.name() + " ping -c1 -W1 127.0.0.1").status, 0);
    // Raising it again is no error.
    EXPECT_NO_THROW(raise_loopback(ns.fd()));
}

TEST(netlink_loopback, a_bad_namespace_throws_and_leaves_the_thread_in_place) {
    auto before = current_netns_inode();
    EXPECT_THROW(raise_loopback(-1), std::system_error);
    sys::unique_fd not_a_netns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(raise_loopback(not_a_netns.get()), std::system_error);
    EXPECT_EQ(current_netns_inode(), before);
}

}  // namespace
}  // namespace moat::netlink::test
