// Internal to moat::config: collecting diagnostics so that one run reports
// every problem, and suggesting the key the user probably meant.
#pragma once

#include "config/loader.hpp"
#include "config/tree.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace moat::config {

class diagnostics {
public:
    explicit diagnostics(std::string file) : _file(std::move(file)) {}

    location at(position p) const { return location{_file, p.line, p.column}; }
    void add(const location& where, std::string message, std::string hint = {});
    void add(position p, std::string message, std::string hint = {}) {
        add(at(p), std::move(message), std::move(hint));
    }
    bool empty() const { return _list.empty(); }
    // Throws config_error when anything was reported.
    void throw_if_any();

private:
    std::string _file;
    std::vector<diagnostic> _list;
};

// The candidate closest to `wrong`, compared case-insensitively and ignoring
// '_' and '-' (so "private_network" finds "privateNetwork"); empty when
// nothing is close enough to be a plausible typo.
std::string nearest_key(std::string_view wrong, const std::vector<std::string_view>& candidates);

// Quoted for messages: 'name'.
inline std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace moat::config
