// What to tell someone whose command line CLI11 rejected: the verb or flag
// they probably meant. CLI11 reports a mistyped verb as "A subcommand is
// required" and a mistyped flag as "The following arguments were not
// expected", neither of which says what to type instead.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace moat::cli {

// For argv that `app` failed to parse: "unknown command 'statsu'; did you
// mean 'status'?" or "status: unknown option '--jsno'; did you mean
// '--json'?" (the suggestion only when one is near), for the first unknown
// verb or flag; nullopt when every word is known (the error is something
// else: CLI11's own message says it better). Verbs starting with '_' are
// internal and never suggested.
std::optional<std::string> unknown_word(const CLI::App& app, int argc, const char* const* argv);

}  // namespace moat::cli
