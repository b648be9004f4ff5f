#include "sys/fs.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
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

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode, bool durable) {
    std::string tmp = path + ".tmp";
    unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) {
        throw errno_error("creating " + tmp);
    }
    write_all(fd.get(), content, "writing " + tmp);
    if (durable) {
        check(::fsync(fd.get()), "syncing " + tmp);
    }
    fd.reset();
    check(::rename(tmp.c_str(), path.c_str()), "renaming " + tmp);
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
