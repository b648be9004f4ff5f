// The two keys that bound a container's logs (README, "Logs"): the init
// rotates each service's log at logSize and keeps logFiles files of it.
#include "config/log_limits.hpp"

#include <algorithm>

namespace moat::config {

// logSize: bytes, or "<n>K" / "<n>M" / "<n>G" (binary units, as Docker's
// max-size). At least 64 KiB, so a file holds a few of the longest (16 KiB)
// lines; at most 1 GiB, as the logs live in the state directory (a tmpfs
// by default).
std::optional<std::uint64_t> read_log_size(value_reader& r, const tree_member& m) {
    constexpr std::uint64_t min = 64 << 10, max = 1 << 30;
    std::string expected = "a size of 64K-1G, like 1048576 or \"1M\"";
    std::optional<std::uint64_t> bytes;
    if (m.value.kind == node_kind::integer) {
        bytes = m.value.integer < 0 ? max + 1 : static_cast<std::uint64_t>(m.value.integer);
    } else if (m.value.kind == node_kind::string) {
        const std::string& t = m.value.text;
        std::size_t digits = std::min(t.find_first_not_of("0123456789"), t.size());
        std::string unit = t.substr(digits);
        int shift = unit == "K" || unit == "k" ? 10 : unit == "M" || unit == "m" ? 20 : unit == "G" || unit == "g" ? 30 : -1;
        shift = unit.empty() ? 0 : shift;
        if (digits != 0 && digits <= 10 && shift >= 0) {
            std::uint64_t n = std::stoull(t.substr(0, digits));
            bytes = n > (max >> shift) ? max + 1 : n << shift;
        }
    } else {
        r.is(m.value, node_kind::integer, m.key, expected);
        return std::nullopt;
    }
    if (!bytes || *bytes < min || *bytes > max) {
        r.diag().add(m.value.pos, m.key + ": expected " + expected + ", got " + shown(m.value));
        return std::nullopt;
    }
    return bytes;
}

// logFiles: how many files a log keeps, the current one included.
std::optional<unsigned> read_log_files(value_reader& r, const tree_member& m) {
    constexpr std::string_view expected = "a number of files 1-10";
    if (!r.is(m.value, node_kind::integer, m.key, expected)) {
        return std::nullopt;
    }
    if (m.value.integer < 1 || m.value.integer > 10) {
        r.diag().add(m.value.pos, m.key + ": expected " + std::string(expected) + ", got " + shown(m.value));
        return std::nullopt;
    }
    return static_cast<unsigned>(m.value.integer);
}

}  // namespace moat::config
