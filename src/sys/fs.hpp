// Small file-system helpers used by the state store and the container setup.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>

namespace moat::sys {

// Everything readable from `fd` until EOF (retrying EINTR); throws
// errno_error(what) on a read error.
std::string read_all(int fd, const std::string& what);
// Writes all of `data` to `fd` (retrying EINTR and short writes).
void write_all(int fd, const std::string& data, const std::string& what);
// Whole file as a string; throws errno_error on failure.
std::string read_file(const std::string& path);
// `text` without the UTF-8 byte order mark a Windows editor puts first (the
// tools that read a .ovpn or a wg-quick file skip it).
inline std::string_view without_bom(std::string_view text) {
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    return text.starts_with(bom) ? text.substr(bom.size()) : text;
}
// Writes via a temporary file and rename, so readers (and a `down` after
// kill -9) see either the old or the new content, never half. The
// temporary is ".<name>.tmp-<random>" in the same directory, created with
// O_CREAT|O_EXCL|O_NOFOLLOW: never a file or symlink someone put there, and
// two writers never share one. `durable` adds an fsync of the file before
// the rename and of the directory after it, so the new content (and the
// rename) also survive a power loss or kernel crash.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0600, bool durable = true);
// A random suffix for names that must not collide ("3f2a9c01d4e7b6a8").
std::string random_suffix();
// Whether `name` is one of write_file_atomic's temporaries (".x.tmp-<random>").
bool is_atomic_temporary(std::string_view name);
// Writes `content` to an existing file (e.g. /proc or cgroup knobs).
void write_file(const std::string& path, const std::string& content);
// mkdir -p; ignores EEXIST.
void make_dirs(const std::string& path, mode_t mode = 0700);
bool path_exists(const std::string& path);
// A path as /proc/<pid>/mountinfo writes it (space, tab, newline and
// backslash escaped as \ooo), unescaped.
std::string unescape_mountinfo(std::string_view s);
// rm -rf without crossing mount points; missing paths are fine.
void remove_tree(const std::string& path);

}  // namespace moat::sys
