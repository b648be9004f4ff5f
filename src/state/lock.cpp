// The state directory itself: its ownership check, its lock, and its removal
// once nothing is recorded (store.hpp has the theory).
#include "state/store.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

namespace moat::state {

namespace {

std::string octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

void check_owner(const std::string& dir, const struct stat& st) {
    if (!S_ISDIR(st.st_mode)) {
        throw usage_error("state directory " + dir + " is not a directory");
    }
    if (st.st_uid != ::geteuid()) {
        throw usage_error("state directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
                          ", not by the caller (uid " + std::to_string(::geteuid()) +
                          "): refusing to use it, since its records decide what moat kills and enters");
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        throw usage_error("state directory " + dir + " is writable by its group or others (mode " + octal(st.st_mode) +
                          "): refusing to use it; `chmod go-w " + dir + "` or choose another --state-dir");
    }
}

// Whether the state directory exists; throws usage_error when it is not
// the caller's. A symbolic link to it must be the caller's too: in a
// sticky /tmp anyone may plant one.
bool checked_exists(const std::string& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return false;
        }
        throw sys::errno_error("reading state directory " + dir);
    }
    if (S_ISLNK(st.st_mode)) {
        if (st.st_uid != ::geteuid()) {
            throw usage_error("state directory " + dir + " is a symbolic link owned by uid " + std::to_string(st.st_uid) +
                              ", not by the caller: refusing to follow it");
        }
        if (::stat(dir.c_str(), &st) != 0) {
            if (errno == ENOENT) {
                return false;
            }
            throw sys::errno_error("reading state directory " + dir);
        }
    }
    check_owner(dir, st);
    return true;
}

// mkdir of the state directory (0700) and, like mkdir -p, its parents;
// true when this call made it.
bool make_state_dir(const std::string& dir) {
    std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
    if (p.filename().empty()) {
        p = p.parent_path();
    }
    std::error_code ec;
    if (p.has_parent_path()) {
        std::filesystem::create_directories(p.parent_path(), ec);
    }
    if (::mkdir(p.c_str(), 0700) == 0) {
        return true;
    }
    if (errno == EEXIST) {
        return false;
    }
    throw sys::errno_error("creating state directory " + dir);
}

void lock_fd(int fd, const std::string& dir) {
    while (::flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            throw sys::errno_error("locking state directory " + dir);
        }
    }
}

// Names a kill -9 may have left in `dir`, for which `match` says yes.
template <typename F>
void remove_matching(const std::string& dir, F match) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        return;
    }
    std::vector<std::string> found;
    while (dirent* e = ::readdir(d)) {
        if (match(std::string_view(e->d_name))) {
            found.emplace_back(e->d_name);
        }
    }
    ::closedir(d);
    for (const auto& name : found) {
        sys::remove_tree(dir + "/" + name);
    }
}

}  // namespace

bool store::exists() const { return checked_exists(_dir); }

state_lock store::lock() { return acquire(true); }

state_lock store::lock_existing() { return acquire(false); }

state_lock store::acquire(bool create) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        bool created = false;
        if (!checked_exists(_dir)) {
            if (!create) {
                return {};
            }
            created = make_state_dir(_dir);
        }
        sys::unique_fd fd(::open(_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) {
                continue;  // removed between the check and the open
            }
            throw sys::errno_error("opening state directory " + _dir);
        }
        struct stat held {}, now {};
        sys::check(::fstat(fd.get(), &held), "reading state directory " + _dir);
        check_owner(_dir, held);
        lock_fd(fd.get(), _dir);
        // While we waited, `down` may have removed the directory (it has
        // no links left then) and someone may have made a new one.
        sys::check(::fstat(fd.get(), &held), "reading state directory " + _dir);
        if (held.st_nlink == 0 || ::stat(_dir.c_str(), &now) != 0 || now.st_dev != held.st_dev ||
            now.st_ino != held.st_ino) {
            continue;
        }
        if (create && ::mkdirat(fd.get(), "containers", 0700) < 0 && errno != EEXIST) {
            throw sys::errno_error("creating " + _dir + "/containers");
        }
        // Once per command: what a crashed command left is invisible to
        // every reader (scan() skips it), so a second lock of the same
        // command (`run` takes it again at the end) need not look again.
        if (!_leftovers_removed) {
            remove_leftovers();
            _leftovers_removed = true;
        }
        return {std::move(fd), created};
    }
    throw moat::error("state directory " + _dir + " keeps being removed and made again: gave up waiting for its lock");
}

void store::remove_leftovers() const {
    remove_matching(_dir, [](std::string_view n) { return sys::is_atomic_temporary(n); });
    remove_matching(_dir + "/containers", [](std::string_view n) {
        return n.size() > 1 && n[0] == '.' && (n.find(".new-") != n.npos || n.find(".gone-") != n.npos);
    });
}

void store::remove_if_empty() {
    collect_locked();
    if (sys::path_exists(_dir + "/host.json")) {
        return;
    }
    remove_leftovers();
    std::error_code ec;
    if (!std::filesystem::is_empty(_dir + "/containers", ec) && !ec) {
        return;
    }
    // The directories of forwarded ports (plan/port_forwarding.hpp): no
    // container reads them any more.
    std::filesystem::remove_all(_dir + "/forwarded", ec);
    ::rmdir((_dir + "/containers").c_str());
    ::unlink((_dir + "/lock").c_str());  // the lock file earlier versions of moat used
    ::rmdir(_dir.c_str());
}

}  // namespace moat::state
