#include "config/loader.hpp"

#include "config/diagnostics.hpp"
#include "config/tree.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace moat::config {

namespace {

// At most max_text_size + 1 bytes: enough to tell that a file is too long
// without reading all of /dev/zero or a multi-gigabyte file into memory.
std::string read_bounded(int fd, const std::string& what) {
    std::string out;
    char buf[16384];
    while (out.size() <= max_text_size) {
        ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_text_size + 1 - out.size()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        sys::check(n, what);
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// Refuses a text longer than max_text_size at the position of its first
// byte past the limit, counted as both readers count (columns in code points).
void check_size(std::string_view text, const std::string& file_name) {
    if (text.size() <= max_text_size) {
        return;
    }
    position p{1, 1};
    for (std::size_t i = 0; i < max_text_size; ++i) {
        if (text[i] == '\n') {
            p = position{p.line + 1, 1};
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++p.column;
        }
    }
    diagnostics d(file_name);
    d.add(p, "the configuration is longer than " + std::to_string(max_text_size >> 20) + " MiB; moat stops reading here",
          "split it into several files, one per group of containers");
    d.throw_if_any();
}

}  // namespace

static format pick_format(std::string_view text, const std::string& file_name, format f) {
    if (f != format::automatic) {
        return f;
    }
    if (file_name.ends_with(".json")) {
        return format::json;
    }
    if (file_name.ends_with(".toml")) {
        return format::toml;
    }
    // A TOML document cannot start with '{' (an inline table needs a key),
    // so the first non-blank character tells the formats apart.
    auto first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && text[first] == '{' ? format::json : format::toml;
}

model load_string(std::string_view text, const std::string& file_name, format f) {
    check_size(text, file_name);
    text = sys::without_bom(text);  // a file saved by a Windows editor
    tree_node root = pick_format(text, file_name, f) == format::json ? parse_json(text, file_name)
                                                                     : parse_toml(text, file_name);
    return map_model(root, file_name);
}

[[noreturn]] static void unreadable(const std::string& name, int err) {
    throw config_error({diagnostic{location{name, 0, 0}, std::string("cannot read configuration: ") + std::strerror(err), ""}});
}

model load_file(const std::string& path, format f) {
    if (path == "-") {
        std::string text;
        try {
            text = read_bounded(STDIN_FILENO, "reading stdin");
        } catch (const std::system_error& e) {
            unreadable("<stdin>", e.code().value());
        }
        return load_string(text, "<stdin>", f);
    }
    std::string text;
    try {
        sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            throw sys::errno_error("reading " + path);
        }
        text = read_bounded(fd.get(), "reading " + path);
    } catch (const std::system_error& e) {
        // A missing or unreadable file is bad usage (exit 2), not a runtime failure.
        unreadable(path, e.code().value());
    }
    return load_string(text, path, f);
}

}  // namespace moat::config
