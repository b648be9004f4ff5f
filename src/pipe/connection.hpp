// One piped connection: up to three descriptors, the handshake, two pumps.
//
//   -e:    plaintext client (accepted)  ->  encrypted target (connected)
//   -d:    encrypted client (accepted)  ->  plaintext target (connected)
//   spipe: stdin/stdout                 ->  encrypted target (connected)
//
// The "seal" pump moves plaintext to the encrypted socket, the "open" pump
// the other way. A pump stops reading while the destination still holds
// unwritten output (back-pressure) and resumes with a direct read once it is
// written. Descriptors are registered once, edge-triggered, for input and
// output (see update_interest()), so a reader must drain what an edge
// announced. EOF on a source becomes shutdown(SHUT_WR) on its destination; the
// connection is over when both pumps have seen EOF, or at the first error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pipe/address.hpp"
#include "pipe/handshake.hpp"
#include "sys/unique_fd.hpp"

namespace moat::pipe {

class worker_pool;

using clock = std::chrono::steady_clock;

// What all connections of one loop share.
struct loop_context {
    int epoll_fd = -1;
    role side = role::client;
    const secret32* key = nullptr;
    const dh_group* group = nullptr;
    worker_pool* workers = nullptr;
    bool no_pfs = false, require_pfs = false, keepalive = true;
    clock::duration timeout{};
    std::vector<std::uint8_t> in_buf;   // ciphertext or plaintext read
    std::vector<std::uint8_t> out_buf;  // what that becomes
    // Registers a deadline (connection id, when); the loop calls on_deadline().
    std::function<void(std::uint64_t, clock::time_point)> add_deadline;
    // Slots that epoll refused (regular files): always treated as ready.
    std::vector<std::uint64_t> always_ready;
};

// epoll data: connection id << 2 | slot.
inline constexpr std::uint64_t token(std::uint64_t id, int slot) { return id << 2 | unsigned(slot); }

class connection {
public:
    enum slot_id { enc = 0, plain_in = 1, plain_out = 2 };

    // `plain_in`/`plain_out` may be the same descriptor (a socket), or -1
    // when the plaintext side is the target still to be connected.
    connection(loop_context& ctx, std::uint64_t id, sys::unique_fd enc_fd, sys::unique_fd plain_in,
               sys::unique_fd plain_out, std::vector<sock_addr> targets);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void on_event(int slot, std::uint32_t events);
    void on_job_done(const std::shared_ptr<dh_job>& job, bool ok);
    void on_deadline();
    bool finished() const { return _finished; }
    // False after a failure (bad peer, timeout, I/O error).
    bool clean() const { return !_failed; }

private:
    struct fd_slot {
        sys::unique_fd fd;
        bool alias = false;       // plain_out sharing plain_in's descriptor
        bool socket = true;
        bool in_epoll = false;
        bool hup = false;         // taken out of epoll after a hang-up
        bool always_ready = false;
    };
    struct pump {
        int src, dst;
        std::vector<std::uint8_t> pending;  // output the destination did not take yet
        std::size_t pending_off = 0;
        bool src_eof = false;
        bool done = false;  // EOF passed on
        bool full_read = false;  // the last read filled the buffer: more may wait
    };

    int fd_of(int slot) const;
    int real_slot(int slot) const { return _slots[slot].alias ? plain_in : slot; }
    void fail();
    void target_connected(int slot);
    bool try_next_target();
    void start_handshake_io();
    void handshake_read(bool until_block);
    void handshake_write();
    void submit_job();
    void maybe_start_data();
    bool pump_read(pump& p);
    void pump_drain(pump& p, bool until_block);
    bool early_nonce();
    void pump_flush(pump& p);
    void seal_chunk(pump& p, std::size_t n);
    void open_chunk(pump& p, std::size_t n);
    void deliver(pump& p, const std::uint8_t* data, std::size_t n);
    void src_finished(pump& p);
    void on_hangup(int slot);
    void update_interest();
    ssize_t do_write(int slot, const std::uint8_t* data, std::size_t n);

    loop_context& _ctx;
    std::uint64_t _id;
    fd_slot _slots[3];
    std::vector<sock_addr> _targets;
    std::size_t _target_index = 0;
    int _connecting = -1;  // slot of the target while its connect is pending
    std::unique_ptr<handshake> _hs;
    bool _hs_io = false;   // handshake bytes may flow (the encrypted socket is connected)
    std::vector<std::uint8_t> _hs_out;
    std::optional<packet_sealer> _sealer;
    std::optional<packet_opener> _opener;
    pump _seal{plain_in, enc, {}, 0, false, false, false};
    pump _open{enc, plain_out, {}, 0, false, false, false};
    std::unique_ptr<std::uint8_t[]> _carry;  // partial incoming packet
    std::size_t _carry_len = 0;
    clock::time_point _deadline{};
    bool _data = false;
    bool _finished = false;
    bool _failed = false;
};

}  // namespace moat::pipe
