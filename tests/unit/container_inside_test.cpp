// Paths inside a container's root (container/inside.hpp): what a hostile
// directory root can plant — absolute and relative symlinks out of the
// root, "..", dangling links — never makes moat touch the host's tree.
// No root needed: openat2 and the *at calls work for any user.
#include "container/inside.hpp"
#include "container/users.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using moat::container::inside::find;
using moat::container::inside::kind;
using moat::container::inside::make;

namespace {

class InsideRoot : public testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/moat-inside-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base = tmpl;
        root_dir = base + "/root";
        host_dir = base + "/host";  // stands for the host's tree outside the root
        fs::create_directories(root_dir + "/etc");
        fs::create_directories(host_dir);
        root.reset(::open(root_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(root);
    }
    void TearDown() override { fs::remove_all(base); }

    std::string base, root_dir, host_dir;
    moat::sys::unique_fd root;
};

TEST_F(InsideRoot, AbsoluteSymlinkOutIsResolvedInsideTheRoot) {
    // The attack of issue 12: DIR/etc -> the host's directory.
    fs::remove(root_dir + "/etc");
    fs::create_directory_symlink(host_dir, root_dir + "/etc");
    auto fd = make(root.get(), "/etc/nologin", kind::file);
    ASSERT_TRUE(fd);
    EXPECT_FALSE(fs::exists(host_dir + "/nologin")) << "created outside the root";
    // The link's target was made inside the root instead.
    EXPECT_TRUE(fs::exists(root_dir + host_dir + "/nologin"));
    // Positive control: the same path joined as a string lands outside.
    std::ofstream(root_dir + "/etc/nologin") << "x";
    EXPECT_TRUE(fs::exists(host_dir + "/nologin"));
}

TEST_F(InsideRoot, DotDotAndRelativeLinksStopAtTheRoot) {
    fs::create_directory_symlink("../../host", root_dir + "/etc/up");
    auto fd = make(root.get(), "/etc/up/x", kind::directory);
    ASSERT_TRUE(fd);
    EXPECT_FALSE(fs::exists(host_dir + "/x"));
    EXPECT_TRUE(fs::is_directory(root_dir + "/host/x"));
    auto dots = make(root.get(), "/../../../host/y", kind::file);
    ASSERT_TRUE(dots);
    EXPECT_FALSE(fs::exists(host_dir + "/y"));
    EXPECT_TRUE(fs::exists(root_dir + "/host/y"));
}

TEST_F(InsideRoot, DanglingLinkIsMadeWhereItPoints) {
    // resolv.conf -> /run/systemd/resolve/stub-resolv.conf, as on a host
    // with systemd-resolved: the file appears under the root's /run.
    fs::create_symlink("/run/systemd/resolve/stub-resolv.conf", root_dir + "/etc/resolv.conf");
    EXPECT_FALSE(find(root.get(), "/etc/resolv.conf"));
    auto fd = make(root.get(), "/etc/resolv.conf", kind::file);
    ASSERT_TRUE(fd);
    EXPECT_TRUE(fs::is_regular_file(root_dir + "/run/systemd/resolve/stub-resolv.conf"));
    EXPECT_TRUE(find(root.get(), "/etc/resolv.conf"));
}

TEST_F(InsideRoot, LinkLoopsAreRefused) {
    fs::create_symlink("/etc/b", root_dir + "/etc/a");
    fs::create_symlink("/etc/a", root_dir + "/etc/b");
    EXPECT_THROW(make(root.get(), "/etc/a", kind::file), std::system_error);
    EXPECT_FALSE(fs::exists(root_dir + "/etc/a"));
}

TEST_F(InsideRoot, MissingDirectoriesAreCreatedOneByOne) {
    auto fd = make(root.get(), "/run/moat/keys/p.key", kind::file);
    ASSERT_TRUE(fd);
    EXPECT_TRUE(fs::is_regular_file(root_dir + "/run/moat/keys/p.key"));
    EXPECT_TRUE(moat::container::inside::is_directory(make(root.get(), "/run/moat", kind::directory).get()));
    // An existing file is found, not recreated.
    std::ofstream(root_dir + "/run/moat/keys/p.key") << "kept";
    make(root.get(), "/run/moat/keys/p.key", kind::file);
    std::ifstream in(root_dir + "/run/moat/keys/p.key");
    std::string text;
    in >> text;
    EXPECT_EQ(text, "kept");
}

TEST(UidRanges, PickIsStableSkipsTakenBlocksAndTheTunnelBlock) {
    using moat::container::pick_uid_base;
    auto none = [](std::uint32_t) { return false; };
    auto a = pick_uid_base("inst/webapp", none);
    EXPECT_EQ(a, pick_uid_base("inst/webapp", none));
    EXPECT_EQ(a % 65536, 0u);
    EXPECT_GE(a, 0x00080000u);
    EXPECT_LT(a, 0x6FFF0000u);
    auto b = pick_uid_base("inst/webapp", [a](std::uint32_t x) { return x == a; });
    EXPECT_NE(a, b);
    EXPECT_EQ(b, a + 65536);  // the next block
    EXPECT_NE(pick_uid_base("inst/other", none), a);
    // Find a key whose first choice is the tunnel daemons' block.
    for (int i = 0; i < 200000; ++i) {
        EXPECT_NE(pick_uid_base("k" + std::to_string(i), none), 0x6D740000u);
    }
}

TEST(UidRanges, AContainersOwnBaseIsNotTakenFromIt) {
    moat::container::uid_ranges r;
    r.hold("a", 0x00090000);
    EXPECT_FALSE(r.held_by_other(0x00090000, "a"));
    EXPECT_TRUE(r.held_by_other(0x00090000, "b"));
    // Two holding one base ("base" ranges): taken for each of them.
    r.hold("b", 0x00090000);
    EXPECT_TRUE(r.held_by_other(0x00090000, "a"));
    // A new pick replaces what a container held.
    r.hold("b", 0x000A0000);
    EXPECT_FALSE(r.held_by_other(0x00090000, "a"));
    EXPECT_TRUE(r.held_by_other(0x000A0000, "a"));
    EXPECT_FALSE(r.held_by_other(0x000A0000, "b"));
    EXPECT_TRUE(r.holds("b"));
    EXPECT_FALSE(r.holds("c"));
}

}  // namespace
