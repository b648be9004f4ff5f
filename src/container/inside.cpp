#include "container/inside.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace moat::container::inside {

namespace {

constexpr std::uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
// A chain of symlinks longer than the kernel's own limit (40) is a loop.
constexpr int max_links = 40;

std::string_view relative(std::string_view path) {
    while (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    return path;
}

int open_in(int dir, std::string_view path, std::uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = resolve;
    std::string p(relative(path));
    if (p.empty()) {
        p = ".";
    }
    return static_cast<int>(::syscall(SYS_openat2, dir, p.c_str(), &how, sizeof how));
}

std::pair<std::string, std::string> split(std::string_view path) {
    std::string p(path);
    while (p.size() > 1 && p.back() == '/') {
        p.pop_back();
    }
    auto slash = p.rfind('/');
    if (slash == std::string::npos) {
        return {"/", p};
    }
    return {slash == 0 ? "/" : p.substr(0, slash), p.substr(slash + 1)};
}

sys::unique_fd make_at(int root, std::string_view path, kind k, int depth);

// `name` in `parent` exists but does not resolve: a dangling symlink, whose
// target (inside the root) is made instead.
sys::unique_fd follow_dangling(int root, int parent, const std::string& parent_path, const std::string& name, kind k,
                               int depth) {
    std::vector<char> buf(4096);
    ssize_t n = ::readlinkat(parent, name.c_str(), buf.data(), buf.size() - 1);
    if (n < 0) {
        throw sys::errno_error("reading the link " + parent_path + "/" + name + " inside the container");
    }
    std::string target(buf.data(), static_cast<std::size_t>(n));
    if (target.empty() || target.front() != '/') {
        target = (parent_path == "/" ? "" : parent_path) + "/" + target;
    }
    return make_at(root, target, k, depth + 1);
}

sys::unique_fd make_at(int root, std::string_view path, kind k, int depth) {
    if (depth > max_links) {
        throw sys::errno_error("resolving " + std::string(path) + " inside the container", ELOOP);
    }
    if (auto found = find(root, path)) {
        return found;
    }
    auto [parent_path, name] = split(path);
    if (name.empty() || name == "." || name == "..") {
        throw sys::errno_error("creating " + std::string(path) + " inside the container", EINVAL);
    }
    sys::unique_fd parent = make_at(root, parent_path, kind::directory, depth);
    int rc = k == kind::directory ? ::mkdirat(parent.get(), name.c_str(), 0755)
                                  : ::openat(parent.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (rc >= 0 && k == kind::file) {
        ::close(rc);
    }
    if (rc < 0 && errno != EEXIST) {
        throw sys::errno_error("creating " + std::string(path) + " inside the container");
    }
    if (auto made = find(root, path)) {
        return made;
    }
    return follow_dangling(root, parent.get(), parent_path, name, k, depth);
}

}  // namespace

sys::unique_fd find(int root, std::string_view path) {
    sys::unique_fd fd(open_in(root, path, O_PATH));
    if (!fd && errno != ENOENT) {
        throw sys::errno_error("resolving " + std::string(path) + " inside the container");
    }
    return fd;
}

sys::unique_fd make(int root, std::string_view path, kind k) { return make_at(root, path, k, 0); }

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

void mount_on(int target, const std::string& what, const char* source, const char* fstype, unsigned long flags,
              const std::string& data) {
    std::string t = fd_path(target);
    if (::mount(source, t.c_str(), fstype, flags, data.empty() ? nullptr : data.c_str()) != 0) {
        throw sys::errno_error(std::string("mounting ") + (fstype && *fstype ? fstype : source) + " on " + what);
    }
}

void attach(int tree, int target, const std::string& what) {
    if (::syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
        throw sys::errno_error("mounting on " + what);
    }
}

void make_read_only(int target, const std::string& what) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, target, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
        throw sys::errno_error("making " + what + " read-only");
    }
}

void make_writable(int target, const std::string& what) {
    mount_attr attr{};
    attr.attr_clr = MOUNT_ATTR_RDONLY;
    if (::syscall(SYS_mount_setattr, target, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
        throw sys::errno_error("making " + what + " writable");
    }
}

bool is_directory(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace moat::container::inside
