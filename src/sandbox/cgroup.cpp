#include "sandbox/cgroup.hpp"

#include "sandbox/cgroup_io.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <charconv>
#include <mutex>
#include <sstream>
#include <utility>

namespace moat::sandbox {

namespace detail {

std::string read_knob(const std::string& path) { return sys::read_file(path); }

void write_knob(const std::string& path, const std::string& value) {
    sys::unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening " + path);
    }
    ssize_t n;
    do {
        n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    sys::check(n, "writing \"" + value + "\" to " + path);
}

std::vector<pid_t> parse_pids(const std::string& procs) {
    std::vector<pid_t> out;
    std::istringstream in(procs);
    pid_t pid;
    while (in >> pid) {
        out.push_back(pid);
    }
    return out;
}

long keyed_value(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string k;
    long v;
    while (in >> k >> v) {
        if (k == key) {
            return v;
        }
    }
    return -1;
}

}  // namespace detail

namespace {

// Splits "moat/a/b" (or "<mount>/moat/a/b") into the part below the mount,
// refusing anything that could name a directory outside it.
std::string relative_to(const std::string& mount, const std::string& path) {
    std::string rel = path;
    if (!rel.empty() && rel[0] == '/') {
        if (rel.compare(0, mount.size() + 1, mount + "/") != 0) {
            throw moat::error("cgroup " + path + " is not inside the cgroup2 mount " + mount);
        }
        rel = rel.substr(mount.size() + 1);
    }
    while (!rel.empty() && rel.back() == '/') {
        rel.pop_back();
    }
    std::istringstream in(rel);
    std::string part;
    while (std::getline(in, part, '/')) {
        if (part.empty() || part == "." || part == "..") {
            throw moat::error("invalid cgroup path " + path);
        }
    }
    if (rel.empty()) {
        throw moat::error("invalid cgroup path " + path + ": it names the root cgroup");
    }
    return rel;
}

}  // namespace

std::optional<std::string> cgroup_mount_from(std::string_view mountinfo) {
    std::istringstream in{std::string(mountinfo)};
    std::string line;
    while (std::getline(in, line)) {
        // id parent maj:min root mount-point options [optional...] - fstype source super
        std::istringstream f(line);
        std::vector<std::string> fields;
        for (std::string w; f >> w;) {
            fields.push_back(w);
        }
        for (size_t i = 6; i + 1 < fields.size(); ++i) {
            if (fields[i] == "-") {
                if (fields[i + 1] == "cgroup2") {
                    return sys::unescape_mountinfo(fields[4]);
                }
                break;
            }
        }
    }
    return std::nullopt;
}

// Asked several times per container (creating, attaching, removing its
// cgroup) and once per container of an `up`: each read of mountinfo prints
// every mount of the namespace (0.1-0.3 ms here). The answer is kept for
// the process and its mount namespace, and checked before each use: the
// path must still be a cgroup2 mount (statfs(2), CGROUP2_SUPER_MAGIC).
// An init, forked from the CLI into a mount namespace of its own, asks
// again.
std::optional<std::string> cgroup_mount() {
    static std::mutex lock;
    static std::optional<std::pair<dev_t, ino_t>> cached_ns;
    static std::optional<std::string> cached;
    struct stat ns {};
    bool known_ns = ::stat("/proc/self/ns/mnt", &ns) == 0;
    std::lock_guard guard(lock);
    if (known_ns && cached_ns == std::pair(ns.st_dev, ns.st_ino) && cached) {
        struct statfs fs {};
        if (::statfs(cached->c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
            return cached;
        }
    }
    cached = cgroup_mount_from(sys::read_file("/proc/self/mountinfo"));
    cached_ns.reset();
    if (known_ns) {
        cached_ns = std::pair(ns.st_dev, ns.st_ino);
    }
    return cached;
}

bool cgroups_hidden() {
    if (cgroup_mount()) {
        return false;
    }
    try {
        return cgroup_mount_from(sys::read_file("/proc/1/mountinfo")).has_value();
    } catch (const std::exception&) {
        return false;  // PID 1's mounts are not readable (not root): nothing is known to be hidden
    }
}

std::string cgroups_hidden_hint() {
    return "no cgroup2 file system is mounted in this mount namespace (`ip netns exec` mounts a /sys without it); "
           "run moat where it is, for example with `nsenter --net=/run/netns/NAME`, which keeps the host's mounts";
}

cgroup::cgroup(std::string mount, std::string relative)
    : _mount(std::move(mount)), _relative(std::move(relative)), _path(_mount + "/" + _relative) {}

std::optional<cgroup> cgroup::create(const std::string& path) {
    auto mount = cgroup_mount();
    if (!mount) {
        return std::nullopt;
    }
    cgroup cg(*mount, relative_to(*mount, path));
    for (size_t pos = 0; pos != std::string::npos;) {
        pos = cg._relative.find('/', pos + 1);
        std::string dir = cg._mount + "/" + cg._relative.substr(0, pos);
        if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) {
            throw sys::errno_error("creating cgroup " + dir);
        }
    }
    return cg;
}

void cgroup::attach(pid_t pid) const {
    try {
        detail::write_knob(_path + "/cgroup.procs", std::to_string(pid));
    } catch (...) {
        add_context("moving process " + std::to_string(pid) + " into cgroup " + _path);
    }
}

std::vector<pid_t> cgroup::pids() const {
    return detail::parse_pids(detail::read_knob(_path + "/cgroup.procs"));
}

bool cgroup::populated() const {
    return detail::keyed_value(detail::read_knob(_path + "/cgroup.events"), "populated") == 1;
}

void cgroup::remove() const {
    if (::rmdir(_path.c_str()) < 0 && errno != ENOENT) {
        throw sys::errno_error("removing cgroup " + _path);
    }
    // Parents are shared by the instance's other containers: EBUSY (it has
    // other children) ends the walk, ENOENT (a concurrent remove) does not.
    // Only moat's two levels, moat/<instance>: above them may be a cgroup
    // delegated to moat (cgroup_layout.hpp), which its manager removes.
    int levels = 0;
    for (auto pos = _relative.rfind('/'); pos != std::string::npos && pos > 0 && levels < 2;
         pos = _relative.rfind('/', pos - 1), ++levels) {
        std::string dir = _mount + "/" + _relative.substr(0, pos);
        if (::rmdir(dir.c_str()) < 0) {
            if (errno == EBUSY || errno == ENOTEMPTY) {
                return;
            }
            if (errno != ENOENT) {
                throw sys::errno_error("removing cgroup " + dir);
            }
        }
    }
}

void cgroup::remove_path(const std::string& path) {
    auto mount = cgroup_mount();
    if (!mount) {
        return;
    }
    cgroup(*mount, relative_to(*mount, path)).remove();
}

void cgroup::destroy(const std::string& path, std::chrono::milliseconds timeout) {
    auto mount = cgroup_mount();
    if (!mount) {
        return;
    }
    cgroup cg(*mount, relative_to(*mount, path));
    if (sys::path_exists(cg._path)) {
        cg.kill_all(timeout);
    }
    cg.remove();
}

}  // namespace moat::sandbox
