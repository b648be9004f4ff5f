// Theory of operation: loading a moat configuration.
//
// A file goes through three stages, each of which reports every problem it
// can find (not just the first) as a diagnostic with file:line:col:
//
//  1. Syntax. TOML is parsed by toml++, JSON by moat's own strict RFC 8259
//     reader (nlohmann-json keeps no positions). Both produce one small
//     generic tree (tree.hpp) with a position on every key and value, so
//     the next stage cannot tell the formats apart: the same input in TOML
//     and JSON yields the same model and the same error messages. A syntax
//     error stops here with a single diagnostic. Before either parser runs,
//     a text longer than 1 MiB or nested deeper than 64 levels of tables and
//     arrays is refused at the place it goes too far (tree.hpp): both
//     parsers recurse per level, and toml++ bounds neither dotted keys nor
//     table headers.
//  2. Mapping (load_file / load_string). One mapper walks the tree into the
//     typed model (model.hpp): unknown keys (with the nearest valid key
//     suggested), wrong types, bad addresses, ports, names and paths.
//  3. Semantics (validate). Relations between objects: duplicate addresses,
//     subnets, bridges, tunnels, forwarded ports, service ordering cycles;
//     addresses and networks no host could route (addresses.hpp).
//
// What needs the host's state -- its addresses, routes and links, and the
// containers already running -- is checked when planning, still before
// anything is touched (plan/host_checks.hpp).
//
// reject_unsupported() is separate from validate() because it depends on
// what this build of moat implements, not on whether the file makes sense.
//
// All failures are config_error, a usage_error: the CLI exits 2 and nothing
// has been touched, because loading happens before any kernel state changes.
#pragma once

#include "config/model.hpp"
#include "sys/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace moat::config {

struct diagnostic {
    location where;
    std::string message;
    std::string hint;  // may be empty
    std::string str() const;  // "<file>:<line>:<col>: error: <message> (hint: <hint>)"
};

// Every diagnostic of one failed load/validation, ordered by position.
// what() is one diagnostic per line.
class config_error : public moat::usage_error {
public:
    explicit config_error(std::vector<diagnostic> diags);
    std::vector<diagnostic> diagnostics;

private:
    static std::string render(std::vector<diagnostic>& diags);
};

enum class format { toml, json, automatic };

// The features this build of moat implements; see reject_unsupported().
struct feature_set {
    bool networks = false;       // [networks.*], hostBridge
    bool nat = false;            // egress = "nat"
    bool forward_ports = false;  // forwardPorts
    bool vpn = false;            // egress = "vpn:<tunnel>"
    bool tunnels = false;        // [tunnels.*]
    bool pipes = false;          // [pipes.*]
    bool check = false;          // [check], check.probe
    bool check_on_failure = false;  // [check] onFailure (`moat check --watch`)
};

// Reads and maps `path`; "-" reads stdin (named "<stdin>" in messages).
// Reads at most max_text_size + 1 bytes (tree.hpp), so /dev/zero is an error.
// automatic: ".json" => JSON, ".toml" => TOML, otherwise JSON if the first
// non-blank character is '{' (a TOML document cannot start with one).
model load_file(const std::string& path, format f = format::automatic);

// Maps `text`; `file_name` is only used in messages and model::source_file.
model load_string(std::string_view text, const std::string& file_name, format f);

// Semantic checks across objects; throws config_error listing all problems.
void validate(const model& m);

// Throws config_error with "<key>: not supported yet in this version of
// moat" for every use of a feature that `implemented` does not include.
void reject_unsupported(const model& m, const feature_set& implemented);

}  // namespace moat::config
