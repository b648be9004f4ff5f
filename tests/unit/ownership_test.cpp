// The proofs of ownership as text: the table's claim (its comment, as nft
// lists it) and the links' alias, and which instance a table belongs to.
#include "converge/claim.hpp"
#include "firewall/firewall.hpp"
#include "netlink/owner.hpp"

#include <gtest/gtest.h>

using namespace moat;

TEST(Ownership, LinkAliasRoundTrips) {
    auto alias = netlink::owner_alias("1b382dae48b6", "container alpha");
    EXPECT_EQ(alias, "moat:1b382dae48b6:container alpha");
    auto o = netlink::parse_owner_alias(alias);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->instance, "1b382dae48b6");
    EXPECT_EQ(o->what, "container alpha");
    // A colon in the object's part stays there.
    EXPECT_EQ(netlink::parse_owner_alias("moat:ab:network a:b")->what, "network a:b");
}

TEST(Ownership, OtherAliasesAreNotMoats) {
    for (const char* a : {"", "uplink to the lab", "moat", "moat:", "moat::x", "moat:xyz:container a",
                          "moat:1b38 2d:x", "MOAT:1b382dae48b6:x", "xmoat:1b382dae48b6:x", "moat:1b382dae48b6"}) {
        EXPECT_FALSE(netlink::parse_owner_alias(a)) << a;
    }
}

TEST(Ownership, ClaimCommentRoundTrips) {
    firewall::claim c{"1b382dae48b6", "/run/moat"};
    EXPECT_EQ(firewall::claim_comment(c), "moat:1b382dae48b6:/run/moat");
    EXPECT_EQ(firewall::parse_claim(firewall::claim_comment(c)), c);
    EXPECT_FALSE(firewall::parse_claim("made by hand"));
    EXPECT_FALSE(firewall::parse_claim("moat:nothex:/x"));
    EXPECT_FALSE(firewall::parse_claim("moat::/x"));
}

TEST(Ownership, ClaimCommentFitsNftAndItsQuotes) {
    std::string long_dir = "/srv/" + std::string(300, 'd') + "/state";
    auto text = firewall::claim_comment({"1b382dae48b6", long_dir});
    EXPECT_LE(text.size(), 128u);  // nft refuses longer comments
    auto back = firewall::parse_claim(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->instance, "1b382dae48b6");
    EXPECT_EQ(back->state_dir.substr(0, 3), "...");
    EXPECT_EQ(back->state_dir.substr(back->state_dir.size() - 6), "/state");
    EXPECT_EQ(firewall::claim_comment({"ab", "/tmp/a\"b\\c\nd"}), "moat:ab:/tmp/a?b?c?d");
}

TEST(Ownership, ListingComment) {
    EXPECT_EQ(firewall::listing_comment("table inet moat {\n\tcomment \"moat:ab:/x y\"\n\tset ifaces {\n"),
              "moat:ab:/x y");
    EXPECT_FALSE(firewall::listing_comment("table inet moat {\n\tset ifaces {\n\t\tcomment \"x\"\n"));
    EXPECT_FALSE(firewall::listing_comment("table inet moat {\n}\n"));
    EXPECT_FALSE(firewall::listing_comment(""));
}

TEST(Ownership, WhoseTable) {
    const std::string ours = "table inet moat {\n\tcomment \"moat:aaaa:/a\"\n}\n";
    const std::string theirs = "table inet moat {\n\tcomment \"moat:bbbb:/b\"\n}\n";
    const std::string unclaimed = "table inet moat {\n\tchain forward {\n\t}\n}\n";
    EXPECT_FALSE(converge::judge_claim(std::nullopt, "aaaa", false).exists());
    EXPECT_FALSE(converge::judge_claim(std::nullopt, "aaaa", true).foreign());
    EXPECT_TRUE(converge::judge_claim(ours, "aaaa", false).ours);  // a lost state dir: still this id's
    auto other = converge::judge_claim(theirs, "aaaa", true);
    EXPECT_TRUE(other.foreign());  // a record does not make another's claim ours
    EXPECT_EQ(other.owner->state_dir, "/b");
    // Without a claim (an older moat): this instance's only if its records say so.
    EXPECT_TRUE(converge::judge_claim(unclaimed, "aaaa", true).ours);
    EXPECT_TRUE(converge::judge_claim(unclaimed, "aaaa", false).foreign());
}
