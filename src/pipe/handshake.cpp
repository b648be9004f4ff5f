#include "pipe/handshake.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace moat::pipe {

namespace {
constexpr std::size_t nonce_size = 32;
constexpr std::size_t public_size = dh_size + tag_size;  // y || HMAC(dhmac, y)
}  // namespace

void dh_job::run(BN_CTX* ctx) {
    if (keygen) {
        group->generate(x, y_self, ctx);
    }
    if (derive) {
        group->shared_secret(x.get(), y_peer, z, ctx);
    }
}

dh_job::~dh_job() { wipe(z.data(), z.size()); }

handshake::handshake(role r, const secret32& key, const dh_group& group, bool no_pfs, bool require_pfs)
    : handshake(r, key, group, no_pfs, require_pfs, [] {
          std::array<std::uint8_t, 32> n;
          random_nonce(n);
          return n;
      }()) {}

handshake::handshake(role r, const secret32& key, const dh_group& group, bool no_pfs, bool require_pfs,
                     std::span<const std::uint8_t, 32> nonce)
    : _role(r), _key(key), _group(group), _no_pfs(no_pfs), _require_pfs(require_pfs) {
    std::copy(nonce.begin(), nonce.end(), _nonce_self.begin());
    _out.assign(_nonce_self.begin(), _nonce_self.end());
    if (_no_pfs) {
        _y_self = dh_one();
        _have_keypair = true;
    } else {
        // Start the key pair at once: it overlaps the nonce round trip.
        _job = std::make_shared<dh_job>();
        _job->group = &_group;
        _job->keygen = true;
    }
}

handshake::~handshake() {
    wipe(_dhmac.data(), _dhmac.size());
    wipe(_z.data(), _z.size());
}

std::size_t handshake::wanted() const {
    if (_state != state::running) {
        return 0;
    }
    switch (_stage) {
    case 0: return nonce_size - _in.size();
    case 1: return public_size - _in.size();
    default: return 0;
    }
}

std::size_t handshake::feed(std::span<const std::uint8_t> in) {
    std::size_t used = 0;
    while (used < in.size() && wanted() > 0) {
        std::size_t n = std::min(wanted(), in.size() - used);
        _in.insert(_in.end(), in.begin() + long(used), in.begin() + long(used + n));
        used += n;
        if (wanted() > 0) {
            break;
        }
        if (_stage == 0) {
            std::copy(_in.begin(), _in.end(), _nonce_peer.begin());
            std::array<std::uint8_t, 64> salt;
            const auto& nc = _role == role::client ? _nonce_self : _nonce_peer;
            const auto& ns = _role == role::client ? _nonce_peer : _nonce_self;
            std::copy(nc.begin(), nc.end(), salt.begin());
            std::copy(ns.begin(), ns.end(), salt.begin() + 32);
            pbkdf2_sha256(_key.bytes, salt, _dhmac);
            _stage = 1;
        } else {
            _stage = 2;
            _peer_ok = check_peer();
            if (!_peer_ok) {
                _state = state::failed;
            }
        }
        _in.clear();
    }
    advance();
    return used;
}

bool handshake::check_peer() {
    std::copy(_in.begin(), _in.begin() + dh_size, _y_peer.begin());
    // The peer MACs with its own half of dk1.
    const std::uint8_t* peer_key = _dhmac.data() + (_role == role::client ? 32 : 0);
    hmac_sha256 h({peer_key, 32});
    std::uint8_t tag[tag_size];
    h.mac(_y_peer, {}, tag);
    if (CRYPTO_memcmp(tag, _in.data() + dh_size, tag_size) != 0) {
        return false;
    }
    return _group.acceptable(_y_peer, _require_pfs);
}

void handshake::send_public() {
    const std::uint8_t* own_key = _dhmac.data() + (_role == role::client ? 0 : 32);
    hmac_sha256 h({own_key, 32});
    std::uint8_t tag[tag_size];
    h.mac(_y_self, {}, tag);
    _out.insert(_out.end(), _y_self.begin(), _y_self.end());
    _out.insert(_out.end(), tag, tag + tag_size);
    _sent_public = true;
}

void handshake::advance() {
    if (_state != state::running) {
        return;
    }
    bool may_send = _role == role::client ? _stage >= 1 : _peer_ok;
    if (may_send && _have_keypair && !_sent_public) {
        send_public();
    }
    if (_peer_ok && _have_keypair && !_have_z && !_job_out && !_job) {
        if (_no_pfs || dh_is_one(_y_peer)) {
            // -f on either side: Z = 1 (1^x = 1), no exponentiation needed.
            _z = dh_one();
            _have_z = true;
        } else {
            _job = std::make_shared<dh_job>();
            _job->group = &_group;
            _job->derive = true;
            _job->x = std::move(_x);
            _job->y_peer = _y_peer;
        }
    }
    if (_have_z && _sent_public) {
        finish();
    }
}

void handshake::finish() {
    std::vector<std::uint8_t> salt;
    const auto& nc = _role == role::client ? _nonce_self : _nonce_peer;
    const auto& ns = _role == role::client ? _nonce_peer : _nonce_self;
    salt.insert(salt.end(), nc.begin(), nc.end());
    salt.insert(salt.end(), ns.begin(), ns.end());
    salt.insert(salt.end(), _z.begin(), _z.end());
    std::array<std::uint8_t, 128> dk2;
    pbkdf2_sha256(_key.bytes, salt, dk2);
    wipe(salt.data(), salt.size());
    // dk2 = E_C || H_C || E_S || H_S
    direction_keys c, s;
    std::memcpy(c.cipher_key.data(), dk2.data(), 32);
    std::memcpy(c.mac_key.data(), dk2.data() + 32, 32);
    std::memcpy(s.cipher_key.data(), dk2.data() + 64, 32);
    std::memcpy(s.mac_key.data(), dk2.data() + 96, 32);
    wipe(dk2.data(), dk2.size());
    _keys.out = _role == role::client ? c : s;
    _keys.in = _role == role::client ? s : c;
    _x.reset();
    wipe(_z.data(), _z.size());
    wipe(_dhmac.data(), _dhmac.size());
    _state = state::done;
}

std::shared_ptr<dh_job> handshake::take_job() {
    if (_job_out || !_job || _state != state::running) {
        return nullptr;
    }
    _job_out = true;
    return std::exchange(_job, nullptr);
}

void handshake::complete_job(const std::shared_ptr<dh_job>& job) {
    _job_out = false;
    if (job->keygen) {
        _x = std::move(job->x);
        _y_self = job->y_self;
        _have_keypair = true;
    }
    if (job->derive) {
        _z = job->z;
        _have_z = true;
    }
    advance();
}

}  // namespace moat::pipe
