// Internal to moat::config: the format-neutral tree that both readers
// produce and the one mapper consumes (see loader.hpp for the pipeline).
// Positions are kept per key and per value because an unknown key is
// reported at the key and a wrong value at the value.
#pragma once

#include "config/model.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat::config {

struct position {
    int line = 0;    // 1-based
    int column = 0;  // 1-based, in Unicode code points (as toml++ counts)
};

// `null` only comes from JSON (e.g. `nix eval --json` prints unset NixOS
// options as null); the mapper treats a null member as an absent key.
enum class node_kind { table, array, string, integer, floating, boolean, datetime, null };

struct tree_member;

struct tree_node {
    node_kind kind = node_kind::null;
    position pos;
    std::string text;                  // string
    std::int64_t integer = 0;          // integer
    double floating = 0;               // floating
    bool boolean = false;              // boolean
    std::vector<tree_node> items;      // array
    std::vector<tree_member> members;  // table, in file order, keys unique
};

struct tree_member {
    std::string key;
    position key_pos;
    tree_node value;
};

// Limits that keep hostile input away from the readers' stacks and memory.
// Tables and arrays nest at most max_nesting deep, the document itself
// counting as one (no moat key needs more than six): both readers, toml++
// and the mapper recurse once per level. A text longer than max_text_size
// is refused before it is parsed (moat's examples are under 1 KB; a
// hundred containers take some 50 KB).
inline constexpr int max_nesting = 64;
inline constexpr std::size_t max_text_size = std::size_t{1} << 20;
// The diagnostic both readers give for nesting beyond max_nesting.
inline std::string nesting_error() {
    return "nesting deeper than " + std::to_string(max_nesting) + " levels of tables and arrays";
}
inline constexpr std::string_view nesting_hint = "no moat key nests more than a few levels deep";

// "a string", "an integer", ... for "expected X, got Y" messages.
std::string_view kind_name(node_kind k);

// Rejects TOML text that would reach undefined behaviour in toml++ 3.3.0
// (toml_guard.cpp); parse_toml calls it first.
void guard_toml_text(std::string_view text, const std::string& file_name);

// Syntax errors throw config_error with one diagnostic at the error.
tree_node parse_toml(std::string_view text, const std::string& file_name);
tree_node parse_json(std::string_view text, const std::string& file_name);

// The tree -> model mapper; throws config_error with every problem found.
model map_model(const tree_node& root, const std::string& file_name);

}  // namespace moat::config
