// Helpers for the pipe integration tests: child processes that are always
// killed, free loopback ports, a target server that collects a connection's
// bytes and echoes them back after EOF (which proves half-close in both
// directions), and a bit-flipping man in the middle. Everything stays on
// 127.0.0.1 of the test process's own network namespace (pipe_main.cpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pipe_test {

using namespace std::chrono_literals;

struct temp_dir {
    std::string path;
    temp_dir();
    ~temp_dir();
    std::string file(const std::string& name) const { return path + "/" + name; }
};

// A loopback port nobody listens on right now.
int free_port();
// Waits until 127.0.0.1:port is in LISTEN state (read from /proc, so that
// probing does not open connections through the pipe).
bool wait_listening(int port, std::chrono::milliseconds timeout = 5s);
std::string make_data(std::size_t n, unsigned seed);
void write_file(const std::string& path, const std::string& content);

class process {
public:
    process() = default;
    explicit process(const std::vector<std::string>& argv, int stdin_fd = -1, int stdout_fd = -1);
    process(process&& o) noexcept : _pid(std::exchange(o._pid, -1)) {}
    process& operator=(process&& o) noexcept;
    ~process() { stop(); }
    pid_t pid() const { return _pid; }
    void signal(int sig) const;
    // Exit status (as from waitpid) or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    void stop();  // SIGTERM, then SIGKILL

private:
    pid_t _pid = -1;
};

// "moat" or "spiped" as -e/-d with the given extra flags, in the foreground.
process start_pipe(const std::string& impl, bool encrypt, int src_port, const std::string& target,
                   const std::string& key, const std::vector<std::string>& extra = {});
std::string driver();

// Reads each connection until EOF, then sends everything back and closes.
class echo_server {
public:
    echo_server();
    ~echo_server();
    int port() const { return _port; }
    std::size_t bytes_received() const { return _bytes; }
    std::size_t connections() const { return _conns; }
    std::vector<std::string> finished_payloads();

private:
    void run();
    int _listen = -1, _wake = -1, _port = 0;
    std::atomic<std::size_t> _bytes{0}, _conns{0};
    std::mutex _mu;
    std::vector<std::string> _payloads;
    std::thread _thread;
};

// Forwards one connection at a time to `target`, flipping one bit at byte
// `offset` of the client->server stream (or server->client with !upstream).
class flip_proxy {
public:
    flip_proxy(int target_port, std::size_t offset, bool upstream);
    ~flip_proxy();
    int port() const { return _port; }

private:
    void run();
    int _listen = -1, _wake = -1, _port = 0, _target;
    std::size_t _offset;
    bool _upstream;
    std::thread _thread;
};

struct reply {
    std::string data;
    bool eof = false;  // orderly EOF or reset seen before the timeout
};
// Connects, sends `data`, shuts down the write half, reads until EOF.
reply roundtrip(int port, const std::string& data, std::chrono::milliseconds timeout = 10s);

}  // namespace pipe_test
