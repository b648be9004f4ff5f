// The lab (LAB.md): every integration test gets its own throw-away network
// namespaces, state directory and names derived from a unique id, and the
// destructor removes all of it — on success, failure or exception — so tests
// run in parallel and never touch the machine's own network.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace moat::test {

struct result {
    int code = -1;
    std::string out;
    std::string err;
};

// Runs `sh -c cmd` with a hard timeout (SIGKILL of its process group).
result sh(const std::string& cmd, std::chrono::seconds timeout = std::chrono::seconds(60));

class lab {
public:
    lab();
    ~lab();
    lab(const lab&) = delete;
    lab& operator=(const lab&) = delete;

    const std::string& id() const { return _id; }
    const std::string& host_ns() const { return _host_ns; }
    const std::string& state_dir() const { return _state_dir; }
    const std::string& dir() const { return _dir; }  // scratch directory for config files

    // A further namespace of this lab ("wan", "peer", ...); deleted with it.
    std::string add_ns(const std::string& role);
    // Runs `cmd` inside namespace `ns` (default: the lab's host).
    result in(const std::string& cmd, const std::string& ns = "", std::chrono::seconds timeout = std::chrono::seconds(60));
    // Runs the real moat binary in the lab's host namespace with its state dir.
    result moat(const std::string& args, std::chrono::seconds timeout = std::chrono::seconds(60));
    // Writes a file in the lab's scratch directory and returns its path.
    std::string write(const std::string& name, const std::string& content);
    // Reads the first line from addr:port, from namespace ns (default host).
    std::string read_line(const std::string& addr, int port, const std::string& ns = "", int seconds = 3);

private:
    std::string _id, _dir, _state_dir, _host_ns;
    std::vector<std::string> _namespaces;
};

// The command prefix that runs a command in lab namespace `ns`.
std::string enter(const std::string& ns);

// The moat binary under test and the source tree.
std::string moat_binary();
std::string source_dir();

}  // namespace moat::test
