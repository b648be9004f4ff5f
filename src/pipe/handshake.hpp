// The spiped handshake as a socket-free state machine, so the event loop,
// the unit tests and the fuzzer drive the same code.
//
//   both:  send nonce (32 bytes) at once; read the peer's nonce
//   dk1 = PBKDF2(K, nonce_C || nonce_S, 1, 64) -> dhmac_C || dhmac_S
//   C:     send y_C || HMAC(dhmac_C, y_C); read and check y_S || mac
//   S:     read and check y_C || mac, *then* send y_S || HMAC(dhmac_S, y_S)
//   both:  Z = y_peer^x (or 1 with -f); dk2 = PBKDF2(K, nC || nS || Z, 1, 128)
//
// The modular exponentiations are "jobs" the owner may run on another
// thread: take_job() hands out a self-contained dh_job (it owns its inputs
// and outputs, so a connection that dies meanwhile leaves nothing dangling)
// and complete_job() folds the result back in. Input is fed with feed();
// wanted() says how many bytes the handshake can still use, so a reader never
// pulls data packets that follow the handshake into the wrong buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "pipe/crypto.hpp"
#include "pipe/dh.hpp"

namespace moat::pipe {

enum class role { client, server };

struct dh_job {
    const dh_group* group = nullptr;
    bool keygen = false;  // produce x and y_self
    bool derive = false;  // produce z from y_peer (and x)
    bn_ptr x;
    dh_value y_self{};
    dh_value y_peer{};
    dh_value z{};
    void run(BN_CTX* ctx);
    ~dh_job();
};

struct session_keys {
    direction_keys out;  // what this side seals
    direction_keys in;   // what this side opens
};

class handshake {
public:
    enum class state { running, failed, done };

    handshake(role r, const secret32& key, const dh_group& group, bool no_pfs, bool require_pfs);
    // Same, with a fixed nonce (tests and the fuzzer).
    handshake(role r, const secret32& key, const dh_group& group, bool no_pfs, bool require_pfs,
              std::span<const std::uint8_t, 32> nonce);
    ~handshake();

    // Bytes to send (grows over time); the owner erases what it sent.
    std::vector<std::uint8_t>& output() { return _out; }
    // How many more input bytes the handshake can consume right now.
    std::size_t wanted() const;
    // Consumes up to wanted() bytes; returns how many were used.
    std::size_t feed(std::span<const std::uint8_t> in);
    // A job ready to be run, or null. At most one is outstanding.
    std::shared_ptr<dh_job> take_job();
    bool job_outstanding() const { return _job_out; }
    void complete_job(const std::shared_ptr<dh_job>& job);

    state status() const { return _state; }
    // Valid once status() == done.
    const session_keys& keys() const { return _keys; }

private:
    void advance();
    void send_public();
    bool check_peer();
    void finish();

    role _role;
    const secret32& _key;
    const dh_group& _group;
    bool _no_pfs, _require_pfs;
    state _state = state::running;

    std::array<std::uint8_t, 32> _nonce_self{}, _nonce_peer{};
    std::array<std::uint8_t, 64> _dhmac{};  // dhmac_C || dhmac_S
    std::vector<std::uint8_t> _out;
    std::vector<std::uint8_t> _in;  // partial input of the current stage

    int _stage = 0;  // 0 = peer nonce, 1 = peer public value, 2 = no more input
    bool _sent_public = false;
    bool _have_keypair = false;
    bool _peer_ok = false;
    bool _have_z = false;
    bool _job_out = false;
    std::shared_ptr<dh_job> _job;  // the next job to hand out
    bn_ptr _x;
    dh_value _y_self{}, _y_peer{}, _z{};
    session_keys _keys;
};

}  // namespace moat::pipe
