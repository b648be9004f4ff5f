#include "sandbox/cgroup_layout.hpp"

#include "sandbox/cgroup.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <unistd.h>

#include <filesystem>
#include <sstream>

namespace moat::sandbox {

namespace {

std::string base;  // below the mount, "" or "/system.slice/moat@x.service"

// A unit's cgroup is system.slice/moat@x.service (2), a user manager's
// user.slice/user-1000.slice/user@1000.service/app.slice/moat@x.service (5).
constexpr int search_depth = 6;

void search(const std::filesystem::path& dir, int depth, std::vector<std::string>& out) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (!e.is_directory(ec) || e.is_symlink(ec)) {
            continue;
        }
        if (e.path().filename() == "moat") {
            out.push_back(e.path().string());
            continue;  // instances' and containers' own cgroups below
        }
        if (depth > 1) {
            search(e.path(), depth - 1, out);
        }
    }
}

// Every <...>/moat directory: the default place first.
std::vector<std::string> moat_directories(const std::string& mount) {
    std::vector<std::string> out;
    std::error_code ec;
    if (std::filesystem::is_directory(mount + "/moat", ec)) {
        out.push_back(mount + "/moat");
    }
    for (const auto& e : std::filesystem::directory_iterator(mount, ec)) {
        if (e.is_directory(ec) && !e.is_symlink(ec) && e.path().filename() != "moat") {
            search(e.path(), search_depth - 1, out);
        }
    }
    return out;
}

}  // namespace

std::string instance_cgroup(const std::string& mount, const std::string& instance) {
    return mount + base + "/moat/" + instance;
}

std::string unified_path_from(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) == 0) {
            return line.substr(3);
        }
    }
    return "/";
}

bool use_delegated_cgroup() {
    auto mount = cgroup_mount();
    if (!mount) {
        return false;
    }
    std::string own = unified_path_from(sys::read_file("/proc/self/cgroup"));
    // " (deleted)" would follow a removed cgroup; a path with ".." cannot be ours.
    if (own.empty() || own == "/" || own[0] != '/' || own.find("/..") != std::string::npos ||
        own.find(' ') != std::string::npos) {
        return false;
    }
    try {
        auto leaf = cgroup::create(*mount + own + "/supervisor");
        leaf->attach(::getpid());
    } catch (...) {
        add_context("moving moat into a leaf of its delegated cgroup " + *mount + own);
    }
    base = own;
    return true;
}

std::vector<std::string> instance_cgroups(const std::string& mount, const std::string& instance) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& dir : moat_directories(mount)) {
        if (std::filesystem::is_directory(dir + "/" + instance, ec)) {
            out.push_back(dir + "/" + instance);
        }
    }
    return out;
}

std::vector<std::string> other_instances_containers(const std::string& mount, const std::string& instance) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& dir : moat_directories(mount)) {
        for (const auto& i : std::filesystem::directory_iterator(dir, ec)) {
            if (!i.is_directory(ec) || i.is_symlink(ec) || i.path().filename() == instance) {
                continue;
            }
            for (const auto& c : std::filesystem::directory_iterator(i.path(), ec)) {
                if (c.is_directory(ec) && !c.is_symlink(ec)) {
                    out.push_back(c.path().string());
                }
            }
        }
    }
    return out;
}

}  // namespace moat::sandbox
