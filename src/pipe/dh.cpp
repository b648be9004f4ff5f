#include "pipe/dh.hpp"

#include <openssl/crypto.h>

#include <cstring>

#include "pipe/crypto.hpp"
#include "sys/error.hpp"

namespace moat::pipe {

namespace {

// RFC 3526 section 3, the 2048-bit MODP group.
constexpr const char* group14_hex =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

constexpr std::size_t entry = dh_size;

bn_ptr new_bn() {
    bn_ptr b(BN_new());
    if (!b) {
        throw moat::error("allocating a BIGNUM");
    }
    return b;
}

void check(int ok, const char* what) {
    if (ok != 1) {
        throw moat::error(std::string("Diffie-Hellman: ") + what + " failed");
    }
}

}  // namespace

dh_value dh_one() {
    dh_value one{};
    one[dh_size - 1] = 1;
    return one;
}

bool dh_is_one(const dh_value& y) { return y == dh_one(); }

dh_group::dh_group() {
    BIGNUM* p = nullptr;
    if (BN_hex2bn(&p, group14_hex) == 0) {
        throw moat::error("parsing the group 14 prime");
    }
    _p.reset(p);
    BN_set_flags(_p.get(), BN_FLG_CONSTTIME);
    bn_ctx_ptr ctx(BN_CTX_new());
    _mont.reset(BN_MONT_CTX_new());
    if (!ctx || !_mont) {
        throw moat::error("allocating Diffie-Hellman contexts");
    }
    check(BN_MONT_CTX_set(_mont.get(), _p.get(), ctx.get()), "BN_MONT_CTX_set");
    check(BN_bn2binpad(_p.get(), _p_bytes.data(), dh_size) == dh_size, "BN_bn2binpad");

    // base = 2^(16^i) in Montgomery form; row i = base^0 .. base^15.
    _table.resize(std::size_t{rows} * 16 * entry);
    auto base = new_bn();
    auto acc = new_bn();
    _one_mont = new_bn();
    check(BN_set_word(base.get(), 2), "BN_set_word");
    check(BN_to_montgomery(base.get(), base.get(), _mont.get(), ctx.get()), "BN_to_montgomery");
    check(BN_set_word(_one_mont.get(), 1), "BN_set_word");
    check(BN_to_montgomery(_one_mont.get(), _one_mont.get(), _mont.get(), ctx.get()), "BN_to_montgomery");
    for (int i = 0; i < rows; ++i) {
        if (!BN_copy(acc.get(), _one_mont.get())) {
            throw moat::error("BN_copy failed");
        }
        for (int j = 0; j < 16; ++j) {
            std::uint8_t* slot = &_table[(std::size_t(i) * 16 + j) * entry];
            check(BN_bn2lebinpad(acc.get(), slot, entry) == entry, "BN_bn2lebinpad");
            check(BN_mod_mul_montgomery(acc.get(), acc.get(), base.get(), _mont.get(), ctx.get()),
                  "BN_mod_mul_montgomery");
        }
        // acc is now base^16, the next row's base.
        if (!BN_copy(base.get(), acc.get())) {
            throw moat::error("BN_copy failed");
        }
    }
}

bool dh_group::acceptable(const dh_value& y, bool require_pfs) const {
    if (std::memcmp(y.data(), _p_bytes.data(), dh_size) >= 0) {
        return false;
    }
    return !(require_pfs && dh_is_one(y));
}

void dh_group::power_of_generator(const BIGNUM* x, dh_value& y, BN_CTX* ctx) const {
    std::uint8_t digits_le[(rows + 1) / 2] = {};
    if (BN_num_bits(x) > rows * window ||
        BN_bn2lebinpad(x, digits_le, sizeof digits_le) != int(sizeof digits_le)) {
        throw moat::error("Diffie-Hellman exponent too large");
    }
    auto acc = new_bn();
    auto pick = new_bn();
    check(BN_copy(acc.get(), _one_mont.get()) ? 1 : 0, "BN_copy");
    alignas(8) std::uint8_t sel[entry];
    for (int i = 0; i < rows; ++i) {
        unsigned d = (digits_le[i / 2] >> ((i % 2) * 4)) & 0xf;
        std::memset(sel, 0, sizeof sel);
        const std::uint8_t* row = &_table[std::size_t(i) * 16 * entry];
        for (unsigned j = 0; j < 16; ++j) {
            // mask = 0xff..ff when j == d, computed without a branch.
            std::uint64_t mask = std::uint64_t(0) - std::uint64_t(((j ^ d) - 1u) >> 31 & 1u);
            const auto* src = reinterpret_cast<const std::uint64_t*>(row + j * entry);
            auto* dst = reinterpret_cast<std::uint64_t*>(sel);
            for (std::size_t k = 0; k < entry / 8; ++k) {
                dst[k] |= src[k] & mask;
            }
        }
        check(BN_lebin2bn(sel, entry, pick.get()) ? 1 : 0, "BN_lebin2bn");
        check(BN_mod_mul_montgomery(acc.get(), acc.get(), pick.get(), _mont.get(), ctx),
              "BN_mod_mul_montgomery");
    }
    check(BN_from_montgomery(acc.get(), acc.get(), _mont.get(), ctx), "BN_from_montgomery");
    check(BN_bn2binpad(acc.get(), y.data(), dh_size) == dh_size, "BN_bn2binpad");
    OPENSSL_cleanse(digits_le, sizeof digits_le);
    OPENSSL_cleanse(sel, sizeof sel);
}

void dh_group::generate(bn_ptr& x, dh_value& y, BN_CTX* ctx) const {
    std::uint8_t r[32];
    random_bytes(r);
    x = new_bn();
    check(BN_bin2bn(r, sizeof r, x.get()) ? 1 : 0, "BN_bin2bn");
    OPENSSL_cleanse(r, sizeof r);
    check(BN_set_bit(x.get(), 258), "BN_set_bit");
    BN_set_flags(x.get(), BN_FLG_CONSTTIME);
    power_of_generator(x.get(), y, ctx);
}

void dh_group::shared_secret(const BIGNUM* x, const dh_value& y, dh_value& z, BN_CTX* ctx) const {
    auto base = new_bn();
    auto out = new_bn();
    check(BN_bin2bn(y.data(), dh_size, base.get()) ? 1 : 0, "BN_bin2bn");
    check(BN_mod_exp_mont_consttime(out.get(), base.get(), x, _p.get(), ctx, _mont.get()),
          "BN_mod_exp_mont_consttime");
    check(BN_bn2binpad(out.get(), z.data(), dh_size) == dh_size, "BN_bn2binpad");
}

}  // namespace moat::pipe
