// The init's event loop and per-service state (init.hpp has the theory).
#pragma once

#include "init/events.hpp"
#include "init/init.hpp"
#include "init/journal.hpp"
#include "init/launch.hpp"
#include "init/log_file.hpp"
#include "sys/unique_fd.hpp"

#include <chrono>
#include <memory>
#include <optional>

namespace moat::init::detail {

class supervisor {
public:
    supervisor(const spec& s, std::function<int()> prepare_child);
    int run();

private:
    using clock = std::chrono::steady_clock;
    enum class state { waiting, running, exited, restarting, stopped };

    // Bytes read from one pipe per wakeup: a flooding service cannot hold
    // the loop, and every pipe gets its turn (init.hpp).
    static constexpr std::size_t read_budget = 64 * 1024;

    struct unit {
        const service* svc = nullptr;
        command cmd;
        state st = state::waiting;
        pid_t pid = 0;
        int restarts = 0;
        std::optional<std::string> last_exit;
        std::optional<std::string> last_exit_at;
        clock::time_point started{};
        clock::time_point restart_at{};
        std::chrono::milliseconds backoff{};
        std::chrono::milliseconds delay{};  // of the pending restart
        // Output: the pipe (the init keeps both ends) and its log.
        sys::unique_fd out_read, out_write;
        std::unique_ptr<line_log> log;
    };

    void start(unit& u);
    void reap();
    void exited(unit& u, int status);
    void schedule_restart(unit& u, std::chrono::milliseconds ran, const std::string& how);
    void handle_signal(int sig);
    void handle_deadlines();
    void begin_stop(const std::string& why);
    void kill_everything();
    void rearm();
    void publish();
    bool finished() const;
    bool is_exit_with(const unit& u) const;

    // supervisor_output.cpp
    void open_outputs();
    void read_output(unit& u, std::size_t budget);
    void drain(unit& u);
    void publish_log_errors();
    std::uint64_t log_errors() const;

    const spec& _spec;
    std::function<int()> _prepare_child;
    journal _journal;
    event_sources _events;
    sys::unique_fd _dev_null;
    std::vector<unit> _units;  // in start order
    bool _stopping = false;
    bool _killed = false;
    clock::time_point _kill_at{};
    int _result = 0;
    // services.json carries the log error counts; on a full disk they change
    // with every line, so they are published at most once a second.
    std::uint64_t _published_errors = 0;
    clock::time_point _published_at{};
    std::optional<clock::time_point> _publish_at;
};

}  // namespace moat::init::detail
