// raise_own_loopback(): lo up in the calling thread's namespace with a
// request of its own, the kernel's refusal as the error.
#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "netlink/loopback.hpp"
#include "netlink_lab.hpp"

namespace moat::netlink::test {
namespace {

bool is_up(const nlohmann::json& link) {
    const auto& flags = link.at("flags");
    return std::find(flags.begin(), flags.end(), "UP") != flags.end();
}

TEST(netlink_loopback, raises_lo_in_its_own_namespace) {
    lab_ns ns;
    // Positive control: a new namespace's lo starts down.
    ASSERT_FALSE(is_up(ns.link("lo"))) << ns.link("lo");
    ns.in([] { raise_own_loopback(); });
    EXPECT_TRUE(is_up(ns.link("lo"))) << ns.link("lo");
    // Traffic flows on it: a ping to 127.0.0.1 inside the lab.
    EXPECT_EQ(run("ip netns exec " + ns.name() + " ping -c1 -W1 127.0.0.1").status, 0);
    // Raising it again is no error.
    EXPECT_NO_THROW(ns.in([] { raise_own_loopback(); }));
}

// Without CAP_NET_ADMIN the kernel refuses, and that is the error: the
// thread drops it from its effective set (capset acts on the calling
// thread only) and takes it back after.
TEST(netlink_loopback, the_kernels_refusal_is_the_error) {
    lab_ns ns;
    int err = 0;
    ns.in([&] {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct sets[_LINUX_CAPABILITY_U32S_3] = {};
        ASSERT_EQ(::syscall(SYS_capget, &header, sets), 0);
        auto held = sets[0].effective;
        sets[0].effective &= ~(1u << CAP_NET_ADMIN);
        ASSERT_EQ(::syscall(SYS_capset, &header, sets), 0);
        try {
            raise_own_loopback();
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        sets[0].effective = held;
        ASSERT_EQ(::syscall(SYS_capset, &header, sets), 0);
    });
    EXPECT_EQ(err, EPERM);
    EXPECT_FALSE(is_up(ns.link("lo"))) << ns.link("lo");
}

}  // namespace
}  // namespace moat::netlink::test
