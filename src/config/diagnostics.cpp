#include "config/diagnostics.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <tuple>

namespace moat::config {

std::string diagnostic::str() const {
    std::string out = where.str() + ": error: " + message;
    if (!hint.empty()) {
        out += " (hint: " + hint + ")";
    }
    return out;
}

// Bounded so that a fuzzed or generated file with thousands of problems still
// gives a readable message; the diagnostics vector keeps them all.
static constexpr std::size_t max_rendered = 50;

std::string config_error::render(std::vector<diagnostic>& diags) {
    // Sorting by position makes the output read like the file, whichever
    // stage (mapping, cross-object validation) found each problem.
    std::stable_sort(diags.begin(), diags.end(), [](const diagnostic& a, const diagnostic& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    std::string out;
    for (std::size_t i = 0; i < diags.size() && i < max_rendered; ++i) {
        if (i) {
            out += '\n';
        }
        out += diags[i].str();
    }
    if (diags.size() > max_rendered) {
        out += "\n... and " + std::to_string(diags.size() - max_rendered) + " more errors";
    }
    return out;
}

config_error::config_error(std::vector<diagnostic> diags)
    : moat::usage_error(render(diags)), diagnostics(std::move(diags)) {}

void diagnostics::add(const location& where, std::string message, std::string hint) {
    _list.push_back(diagnostic{where, std::move(message), std::move(hint)});
}

void diagnostics::throw_if_any() {
    if (!_list.empty()) {
        throw config_error(std::move(_list));
    }
}

static std::string fold(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c != '_' && c != '-') {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return out;
}

// Edit distance counting a swap of adjacent characters as one edit (optimal
// string alignment): "lba" for "lab" is one slip of the fingers, not two.
static std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (std::size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

std::string nearest_key(std::string_view wrong, const std::vector<std::string_view>& candidates) {
    // Key names are short; anything longer is not a typo of one of them and
    // would only make the quadratic distance expensive.
    if (wrong.size() > 64) {
        return {};
    }
    std::string w = fold(wrong);
    std::string best;
    std::size_t best_distance = SIZE_MAX;
    for (auto candidate : candidates) {
        std::size_t d = edit_distance(w, fold(candidate));
        if (d < best_distance) {
            best_distance = d;
            best = std::string(candidate);
        }
    }
    // One edit per three characters, at least one and at most three: "hostAdress"
    // finds "hostAddress", "foo" does not find "root".
    std::size_t allowed = std::clamp<std::size_t>(w.size() / 3, 1, 3);
    return best_distance <= allowed ? best : std::string{};
}

}  // namespace moat::config
