// Diffie-Hellman in RFC 3526 group 14 (2048-bit MODP, generator 2), the
// group spiped uses. Values travel as 256-byte big-endian numbers.
//
// Secret exponents have spiped's shape, x = 2^258 + r with r a random 256-bit
// number: short exponents interoperate (the peer only ever sees y) and cost
// ~260 squarings instead of 2048.
//
// y = 2^x uses a fixed-base table (the generator never changes): row i holds
// 2^(j * 16^i) for j = 0..15 in Montgomery form, so y is 65 multiplications
// and no squarings, about a third of a plain modexp. Table entries are picked
// by scanning the whole row with masks, so the memory access pattern does not
// depend on x. Z = y_peer^x uses OpenSSL's constant-time modexp. The group
// object is immutable after construction and shared by the worker threads.
#pragma once

#include <openssl/bn.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace moat::pipe {

inline constexpr std::size_t dh_size = 256;
using dh_value = std::array<std::uint8_t, dh_size>;

struct bn_deleter {
    void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;
struct bn_ctx_deleter {
    void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
using bn_ctx_ptr = std::unique_ptr<BN_CTX, bn_ctx_deleter>;
struct mont_deleter {
    void operator()(BN_MONT_CTX* m) const { BN_MONT_CTX_free(m); }
};

// The value 1, which a -f side sends instead of a public key.
dh_value dh_one();
bool dh_is_one(const dh_value& y);

class dh_group {
public:
    dh_group();
    // True when y is an acceptable peer value: y < p, and y != 1 if PFS is required.
    bool acceptable(const dh_value& y, bool require_pfs) const;
    // A fresh secret exponent and 2^x mod p. `ctx` is the calling thread's.
    void generate(bn_ptr& x, dh_value& y, BN_CTX* ctx) const;
    // 2^x mod p via the table (exposed for tests against BN_mod_exp).
    void power_of_generator(const BIGNUM* x, dh_value& y, BN_CTX* ctx) const;
    // Z = y^x mod p.
    void shared_secret(const BIGNUM* x, const dh_value& y, dh_value& z, BN_CTX* ctx) const;
    const BIGNUM* prime() const { return _p.get(); }

private:
    static constexpr int window = 4;
    static constexpr int rows = 65;  // ceil(259 bits / 4)
    bn_ptr _p;
    std::unique_ptr<BN_MONT_CTX, mont_deleter> _mont;
    dh_value _p_bytes{};
    // rows x 16 entries of 256 little-endian bytes (Montgomery form).
    std::vector<std::uint8_t> _table;
    bn_ptr _one_mont;
};

}  // namespace moat::pipe
