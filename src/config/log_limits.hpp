// Readers of logSize and logFiles (config/log_limits.cpp): nullopt, with a
// diagnostic at the value, when the value is not a size or count moat takes.
#pragma once

#include "config/value_reader.hpp"

#include <cstdint>
#include <optional>

namespace moat::config {

std::optional<std::uint64_t> read_log_size(value_reader& r, const tree_member& m);
std::optional<unsigned> read_log_files(value_reader& r, const tree_member& m);

}  // namespace moat::config
