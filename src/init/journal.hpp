// What the init tells the outside: init.log (one timestamped line per
// event, bounded and rotated like a service's log) and services.json (the
// current state of every service, replaced atomically so `moat status` and
// `moat logs` never read half a file).
#pragma once

#include "init/log_file.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moat::init::detail {

struct service_status {
    std::string name;
    const char* state;  // "running" | "exited" | "restarting" | "stopped"
    pid_t pid = 0;      // 0 when not running
    int restarts = 0;
    std::optional<std::string> last_exit;     // "status N" | "signal N"
    std::optional<std::string> last_exit_at;  // RFC 3339 with ms
    std::optional<long long> restart_in_ms;   // "restarting": its back-off after that exit
    std::uint64_t log_errors = 0;             // failed writes of its log (lines lost)
    std::string log_error;                    // the last one; "" when none
};

class journal {
public:
    // log_dir_fd < 0: lines go to stderr and no services.json is kept.
    journal(int log_dir_fd, log_limits limits);

    // Never throws: the init must outlive a full disk.
    void event(const std::string& text) noexcept;
    void status(const std::vector<service_status>& services) noexcept;

    std::uint64_t log_errors() const { return _log.errors(); }

private:
    int _dir;
    rotating_log _log;
    bool _status_failed = false;  // report a failing services.json only once
    std::string _last_status;     // what services.json holds, as this journal last wrote it
};

}  // namespace moat::init::detail
