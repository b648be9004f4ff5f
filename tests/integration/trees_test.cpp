// clone_host_root (container/trees.hpp), driven directly in a forked child
// with a private mount namespace of its own, where the test mounts what a
// host may have: a mount with one stacked on it (/mnt/kept), a separate
// /var holding a /var/tmp and a /var/lib, mounts under /run. The copy is
// attached under the child's /tmp and read back from its mountinfo. The
// control is the whole copy (clone_tree("/")), which holds the host's
// /proc, /sys, /dev, /run: what the init had to detach before, one
// expedited RCU grace period per umount2. Needs root; nothing outside the
// child's mount namespace is touched.
#include "container/trees.hpp"
#include "sandbox_child.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace moat::container;

namespace {

void check(bool ok, const std::string& what) {
    if (!ok) {
        throw std::runtime_error(what + ": " + std::strerror(errno));
    }
}

void tmpfs(const std::string& path, const std::string& marker) {
    ::mkdir(path.c_str(), 0755);
    check(::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=64k") == 0, "mounting a tmpfs on " + path);
    if (!marker.empty()) {
        moat::sys::write_file_atomic(path + "/marker", marker, 0644, false);
    }
}

// Runs `body` in a child with a private mount namespace; its report back.
std::string in_private_mounts(const std::function<std::string()>& body) {
    return moat::sandbox::test::in_child([&] {
               check(::unshare(CLONE_NEWNS) == 0, "unshare");
               check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, "making / private");
               return body();
           })
        .report;
}

// The host a container may run on, in the child's namespace.
void make_host() {
    tmpfs("/mnt", "");
    tmpfs("/mnt/kept", "below");
    tmpfs("/mnt/kept", "stacked");  // the one seen at /mnt/kept
    tmpfs("/var", "");
    tmpfs("/var/tmp", "host var tmp");
    tmpfs("/var/lib", "var lib");
    tmpfs("/var/lib/deeper", "deeper");
    tmpfs("/run", "");
    tmpfs("/run/netns", "host run");
    tmpfs("/tmp", "");
}

// Attaches `tree` at /tmp/copy; "point options" of each mount there, one a
// line, points relative to the copy, then the markers read through it.
std::string attach_and_list(cloned_tree tree) {
    ::mkdir("/tmp/copy", 0755);
    int target = ::open("/tmp/copy", O_PATH | O_CLOEXEC);
    check(::syscall(SYS_move_mount, tree.fd.get(), "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0,
          "attaching the copy");
    std::istringstream info(moat::sys::read_file("/proc/self/mountinfo"));
    std::string out;
    for (std::string line; std::getline(info, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point, options;
        f >> id >> parent >> dev >> root >> point >> options;
        if (point == "/tmp/copy" || point.rfind("/tmp/copy/", 0) == 0) {
            std::string inside = point == "/tmp/copy" ? "/" : point.substr(9);
            out += "mount " + inside + " " + options + "\n";
        }
    }
    for (const char* m : {"/mnt/kept", "/var/lib", "/var/lib/deeper", "/var/tmp", "/run/netns"}) {
        std::string path = std::string("/tmp/copy") + m + "/marker";
        out += std::string("marker ") + m + " " + (moat::sys::path_exists(path) ? moat::sys::read_file(path) : "-") + "\n";
    }
    return out;
}

std::set<std::string> lines_starting(const std::string& report, const std::string& prefix) {
    std::set<std::string> out;
    std::istringstream in(report);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) == 0) {
            out.insert(line.substr(prefix.size()));
        }
    }
    return out;
}

std::set<std::string> points(const std::string& report) {
    std::set<std::string> out;
    for (const auto& l : lines_starting(report, "mount ")) {
        out.insert(l.substr(0, l.find(' ')));
    }
    return out;
}

bool replaced(const std::string& point) {
    for (const char* r : replaced_host_paths) {
        std::string d = r;
        if (point == d || point.rfind(d + "/", 0) == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST(HostRoot, CopyHoldsTheHostsMountsButNoneOfTheReplacedPaths) {
    auto report = in_private_mounts([] {
        make_host();
        tree_attributes attrs;
        attrs.read_only = true;
        return attach_and_list(clone_host_root(attrs));
    });
    ASSERT_EQ(report.find("exception"), std::string::npos) << report;
    auto seen = points(report);
    for (const auto& p : seen) {
        EXPECT_FALSE(replaced(p)) << p << " is in the copy:\n" << report;
    }
    for (const char* p : {"/", "/mnt", "/mnt/kept", "/var", "/var/lib", "/var/lib/deeper"}) {
        EXPECT_TRUE(seen.count(p)) << p << " is missing from the copy:\n" << report;
    }
    auto markers = lines_starting(report, "marker ");
    EXPECT_TRUE(markers.count("/mnt/kept stacked")) << report;
    EXPECT_TRUE(markers.count("/var/lib var lib")) << report;
    EXPECT_TRUE(markers.count("/var/lib/deeper deeper")) << report;
    EXPECT_TRUE(markers.count("/var/tmp -")) << report;
    EXPECT_TRUE(markers.count("/run/netns -")) << report;
    // Every mount of the copy got the attributes, not only its root.
    for (const auto& l : lines_starting(report, "mount ")) {
        auto options = l.substr(l.find(' ') + 1);
        EXPECT_NE(("," + options + ",").find(",ro,"), std::string::npos) << l;
        EXPECT_NE(options.find("nosuid"), std::string::npos) << l;
        EXPECT_NE(options.find("nodev"), std::string::npos) << l;
    }
}

// The control: the whole copy holds them, and this test's reading sees it.
TEST(HostRoot, WholeCopyHoldsTheReplacedPaths) {
    auto report = in_private_mounts([] {
        make_host();
        return attach_and_list(clone_tree("/", {}));
    });
    ASSERT_EQ(report.find("exception"), std::string::npos) << report;
    auto seen = points(report);
    for (const char* p : {"/proc", "/sys", "/dev", "/run", "/run/netns", "/var/tmp", "/mnt/kept"}) {
        EXPECT_TRUE(seen.count(p)) << p << ":\n" << report;
    }
    EXPECT_TRUE(lines_starting(report, "marker ").count("/var/tmp host var tmp")) << report;
}
