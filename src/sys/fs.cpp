#include "sys/fs.hpp"

#include "sys/error.hpp"
#include "sys/hash.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>

namespace moat::sys {

std::string read_all(int fd, const std::string& what) {
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        check(n, what);
        if (n == 0) {
            return out;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

std::string read_file(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw errno_error("reading " + path);
    }
    return read_all(fd.get(), "reading " + path);
}

void write_all(int fd, const std::string& content, const std::string& what) {
    size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        check(n, what);
        off += static_cast<size_t>(n);
    }
}

std::string random_suffix() {
    unsigned char b[8];
    if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
        throw errno_error("getrandom");
    }
    return to_hex(b);
}

bool is_atomic_temporary(std::string_view name) {
    return name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string_view::npos;
}

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode, bool durable) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    unique_fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) {
        throw errno_error("opening " + dir);
    }
    std::string tmp;
    unique_fd fd;
    for (int tries = 0; !fd; ++tries) {
        tmp = "." + base + ".tmp-" + random_suffix();
        fd.reset(::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
        if (!fd && (errno != EEXIST || tries == 8)) {
            throw errno_error("creating " + dir + "/" + tmp);
        }
    }
    try {
        write_all(fd.get(), content, "writing " + dir + "/" + tmp);
        if (durable) {
            check(::fsync(fd.get()), "syncing " + dir + "/" + tmp);
        }
        fd.reset();
        check(::renameat(dfd.get(), tmp.c_str(), dfd.get(), base.c_str()), "renaming " + dir + "/" + tmp + " to " + base);
    } catch (...) {
        ::unlinkat(dfd.get(), tmp.c_str(), 0);
        throw;
    }
    // The rename is a change of the directory: without this a crash can
    // bring back the old content (or none) after the new one was reported.
    if (durable) {
        check(::fsync(dfd.get()), "syncing " + dir);
    }
}

void write_file(const std::string& path, const std::string& content) {
    unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        throw errno_error("opening " + path);
    }
    write_all(fd.get(), content, "writing " + path);
}

std::string unescape_mountinfo(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = 0;
            auto r = std::from_chars(s.data() + i + 1, s.data() + i + 4, v, 8);
            if (r.ec == std::errc() && r.ptr == s.data() + i + 4) {
                out.push_back(static_cast<char>(v));
                i += 3;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

void make_dirs(const std::string& path, mode_t mode) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
        throw std::system_error(ec, "creating directory " + path);
    }
    ::chmod(path.c_str(), mode);
}

bool path_exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

void remove_tree(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
        throw std::system_error(ec, "removing " + path);
    }
}

}  // namespace moat::sys
