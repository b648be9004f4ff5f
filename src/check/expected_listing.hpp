// The listing `moat check` expects of table inet moat: host.json's
// recorded script committed where it cannot matter, and listed there.
#pragma once

#include <string>

namespace moat::check::detail {

// Commits `script` (render()'s text) with the table comment `comment` in a
// network namespace of its own — a forked child that unshare(CLONE_NEWNET)s
// first and never acts anywhere else — and returns `list table inet moat`
// there. Throws moat::error with nft's text when that fails.
std::string expected_listing(const std::string& script, const std::string& comment);

}  // namespace moat::check::detail
