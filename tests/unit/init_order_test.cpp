// Start order and spec validation of moat's init.
#include "init/init.hpp"
#include "sys/error.hpp"

#include <gtest/gtest.h>

namespace moat::init {
namespace {

service named(const std::string& name, std::vector<std::string> after = {}) {
    service s;
    s.name = name;
    s.argv = {"/bin/true"};
    s.after = std::move(after);
    return s;
}

TEST(InitOrder, KeepsDeclarationOrderWithoutAfter) {
    EXPECT_EQ(start_order({named("a"), named("b"), named("c")}), (std::vector<std::size_t>{0, 1, 2}));
}

TEST(InitOrder, StartsEachServiceAfterThoseItNames) {
    // web after db and cache; db after cache.
    auto order = start_order({named("web", {"db", "cache"}), named("db", {"cache"}), named("cache")});
    EXPECT_EQ(order, (std::vector<std::size_t>{2, 1, 0}));
}

TEST(InitOrder, IndependentServicesKeepTheirPlace) {
    auto order = start_order({named("a", {"c"}), named("b"), named("c")});
    EXPECT_EQ(order, (std::vector<std::size_t>{1, 2, 0}));
}

TEST(InitOrder, RejectsUnknownService) {
    try {
        start_order({named("a", {"nope"})});
        FAIL() << "no error";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
    }
}

TEST(InitOrder, RejectsCycleNamingItsMembers) {
    try {
        start_order({named("free"), named("a", {"b"}), named("b", {"a"})});
        FAIL() << "no error";
    } catch (const usage_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("a, b"), std::string::npos) << what;
        EXPECT_EQ(what.find("free"), std::string::npos) << what;
    }
}

TEST(InitOrder, RejectsDuplicateNames) {
    EXPECT_THROW(start_order({named("a"), named("a")}), usage_error);
}

TEST(InitRun, RejectsUnknownExitWithBeforeStartingAnything) {
    spec s;
    s.services = {named("a")};
    s.exit_with = "b";
    EXPECT_THROW(run(s, {}), usage_error);
}

TEST(InitRun, RejectsBadAfterBeforeStartingAnything) {
    spec s;
    s.services = {named("a", {"zzz"})};
    EXPECT_THROW(run(s, {}), usage_error);
}

}  // namespace
}  // namespace moat::init
