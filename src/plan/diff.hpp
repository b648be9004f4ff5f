// A line diff for `moat plan`: what the committed nftables ruleset becomes.
#pragma once

#include <string>
#include <vector>

namespace moat::plan {

// Lines of `after` against `before`, each prefixed "  " (kept), "- "
// (removed) or "+ " (added), in order. Common leading and trailing lines
// are matched first; the middle by longest common subsequence, or — when it
// is too large for that to be cheap — shown as removed then added.
std::vector<std::string> diff_lines(const std::string& before, const std::string& after);

}  // namespace moat::plan
