// The bytes a rotated log takes on disk, read while its writer may be
// rotating it: unit tests of the init and integration tests of `moat logs`
// both measure the cap this way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace moat::test {

// The bytes of every file in dir whose name starts with prefix ("" for all).
// The live log is renamed before its successor is opened, so a listing can
// name a file that is gone by the time it is measured: such a listing is
// taken again, never counted short (a short count could hide a broken cap).
inline std::uintmax_t log_files_bytes(const std::string& dir, const std::string& prefix) {
    for (;;) {
        std::uintmax_t total = 0;
        bool vanished = false;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            if (e.path().filename().string().rfind(prefix, 0) != 0) {
                continue;
            }
            std::error_code ec;
            auto size = std::filesystem::file_size(e.path(), ec);
            if (ec == std::errc::no_such_file_or_directory) {
                vanished = true;
                break;
            }
            if (ec) {
                throw std::filesystem::filesystem_error("log_files_bytes", e.path(), ec);
            }
            total += size;
        }
        if (!vanished) {
            return total;
        }
    }
}

}  // namespace moat::test
