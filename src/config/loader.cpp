#include "config/loader.hpp"

#include "config/diagnostics.hpp"
#include "config/tree.hpp"
#include "sys/fs.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace moat::config {

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
            text = sys::read_all(STDIN_FILENO, "reading stdin");
        } catch (const std::system_error& e) {
            unreadable("<stdin>", e.code().value());
        }
        return load_string(text, "<stdin>", f);
    }
    std::string text;
    try {
        text = sys::read_file(path);
    } catch (const std::system_error& e) {
        // A missing or unreadable file is bad usage (exit 2), not a runtime failure.
        unreadable(path, e.code().value());
    }
    return load_string(text, path, f);
}

}  // namespace moat::config
