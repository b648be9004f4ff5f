// The event loop that owns the listening socket, the connections, the DH
// workers and the SIGTERM handling of one pipe (spiped -e/-d, or spipe's
// single connection on stdin/stdout).
#pragma once

#include <sys/socket.h>

#include <csignal>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipe/connection.hpp"
#include "pipe/workers.hpp"

namespace moat::pipe {

struct server_config {
    role side = role::client;
    bool no_pfs = false, require_pfs = false, keepalive = true;
    std::size_t max_conns = 100;  // 0 = unlimited
    double timeout = 5.0;
    std::string target;
    double resolve_every = 60.0;  // < 0: never re-resolve
    unsigned dh_threads = 2;
};

class server {
public:
    // Blocks SIGTERM in this thread (restored on destruction) before the
    // worker threads start, so that only the loop's signalfd sees it.
    server(const server_config& cfg, const secret32& key);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Sets the target addresses (resolve() is the caller's first try, so
    // that resolution errors surface before daemonizing).
    void set_targets(std::vector<sock_addr> targets);
    void add_listener(sys::unique_fd fd);
    // spipe: one connection between stdin/stdout and the encrypted target.
    void add_stdio_connection();
    // Runs until SIGTERM has closed the listener (or there is none) and no
    // connection is left. True when every connection ended without error.
    bool run();

private:
    void on_accept();
    void add_connection(std::uint64_t id, std::unique_ptr<connection> c);
    void reap(std::uint64_t id);
    void refresh_targets();
    void set_listening(bool on);
    void starve();
    void resume_if_due();
    void expire_deadlines();
    int wait_timeout() const;
    void handle_jobs();

    server_config _cfg;
    const secret32& _key;
    dh_group _group;
    sigset_t _old_mask{};
    sys::unique_fd _epoll;
    sys::unique_fd _signal;
    sys::unique_fd _listener;
    int _listener_family = AF_INET;
    bool _listening = false;
    // accept4() ran out of descriptors or memory: the listener is paused
    // until `_resume_at` or until a connection closes, whichever is first.
    bool _starved = false;
    clock::time_point _resume_at{};
    clock::duration _backoff{};  // the next pause; doubles up to max_backoff
    std::unique_ptr<worker_pool> _workers;
    loop_context _ctx;
    std::unordered_map<std::uint64_t, std::unique_ptr<connection>> _conns;
    std::uint64_t _next_id = 1;
    std::deque<std::pair<clock::time_point, std::uint64_t>> _deadlines;
    std::vector<sock_addr> _targets;
    clock::time_point _resolved_at{};
    bool _all_clean = true;
};

}  // namespace moat::pipe
