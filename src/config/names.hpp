// The one validator for names and paths, used by the configuration reader
// and the CLI alike (every container and service name on the command line,
// `moat run --name`; cli/main.cpp): what reaches a file name, an interface
// name, a cgroup or a mount must pass here first.
//
// Paths: absolute, no "." or ".." segment, no NUL. Paths are later resolved
// inside a container's root with openat2(RESOLVE_IN_ROOT), so ".." could not
// escape there anyway; rejecting it at load time gives the user a clear
// error (exit 2, file:line:col) instead of a surprise, and keeps host-side
// paths (keyFile, a tunnel's config) from depending on moat's working
// directory.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace moat::config {

// Why `name` is not a valid container/service/network/tunnel/pipe name, or
// nullopt: 1-64 of [A-Za-z0-9_-], starting with a letter or digit.
std::optional<std::string> name_problem(std::string_view name);
inline constexpr std::string_view name_rule = "use 1-64 letters, digits, '-' and '_', starting with a letter or digit";

// Why `path` is not an acceptable absolute path, or nullopt.
std::optional<std::string> path_problem(std::string_view path);

}  // namespace moat::config
