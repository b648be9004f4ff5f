// The OpenSSL functions moat calls, forwarding to libcrypto.so.3 opened on
// first use (libcrypto.hpp).
#define OPENSSL_SUPPRESS_DEPRECATED  // SHA256_Init and friends: see pipe/crypto.cpp

#include "libcrypto/libcrypto.hpp"

#include "sys/shared_library.hpp"

#include <openssl/opensslv.h>  // macros only: OPENSSL_SHLIB_VERSION
#include <string.h>

namespace moat::libcrypto {

namespace {

// The ABI moat was built against: libcrypto.so.3 for OpenSSL 3.x.
constexpr sys::shared_library crypto("libcrypto.so." OPENSSL_MSTR(OPENSSL_SHLIB_VERSION), "OpenSSL 3, libssl3");

}  // namespace

void load() { crypto.handle(); }

}  // namespace moat::libcrypto

// Hidden from here on, declarations included: the definitions below bind
// only calls inside moat's own executable, never the library's own calls.
#pragma GCC visibility push(hidden)
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

// One forwarder: the real function is looked up on the first call (a
// function-local static: thread-safe), then called directly.
#define MOAT_FORWARD(ret, name, params, args)                                                  \
    extern "C" ret name params {                                                               \
        static const auto real = reinterpret_cast<decltype(&name)>(moat::libcrypto::crypto.symbol(#name)); \
        return real args;                                                                      \
    }

// BIGNUM arithmetic (pipe/dh.cpp).
MOAT_FORWARD(BN_CTX*, BN_CTX_new, (void), ())
MOAT_FORWARD(BN_CTX*, BN_CTX_secure_new, (void), ())
MOAT_FORWARD(void, BN_CTX_free, (BN_CTX * c), (c))
MOAT_FORWARD(BN_MONT_CTX*, BN_MONT_CTX_new, (void), ())
MOAT_FORWARD(void, BN_MONT_CTX_free, (BN_MONT_CTX * m), (m))
MOAT_FORWARD(int, BN_MONT_CTX_set, (BN_MONT_CTX * m, const BIGNUM* mod, BN_CTX* ctx), (m, mod, ctx))
MOAT_FORWARD(BIGNUM*, BN_new, (void), ())
MOAT_FORWARD(void, BN_clear_free, (BIGNUM * a), (a))
MOAT_FORWARD(BIGNUM*, BN_copy, (BIGNUM * a, const BIGNUM* b), (a, b))
MOAT_FORWARD(BIGNUM*, BN_bin2bn, (const unsigned char* s, int len, BIGNUM* ret), (s, len, ret))
MOAT_FORWARD(BIGNUM*, BN_lebin2bn, (const unsigned char* s, int len, BIGNUM* ret), (s, len, ret))
MOAT_FORWARD(int, BN_bn2binpad, (const BIGNUM* a, unsigned char* to, int tolen), (a, to, tolen))
MOAT_FORWARD(int, BN_bn2lebinpad, (const BIGNUM* a, unsigned char* to, int tolen), (a, to, tolen))
MOAT_FORWARD(int, BN_hex2bn, (BIGNUM * *a, const char* str), (a, str))
MOAT_FORWARD(int, BN_num_bits, (const BIGNUM* a), (a))
MOAT_FORWARD(int, BN_set_bit, (BIGNUM * a, int n), (a, n))
MOAT_FORWARD(void, BN_set_flags, (BIGNUM * b, int n), (b, n))
MOAT_FORWARD(int, BN_set_word, (BIGNUM * a, BN_ULONG w), (a, w))
MOAT_FORWARD(int, BN_to_montgomery, (BIGNUM * r, const BIGNUM* a, BN_MONT_CTX* m, BN_CTX* ctx), (r, a, m, ctx))
MOAT_FORWARD(int, BN_from_montgomery, (BIGNUM * r, const BIGNUM* a, BN_MONT_CTX* m, BN_CTX* ctx), (r, a, m, ctx))
MOAT_FORWARD(int, BN_mod_mul_montgomery,
             (BIGNUM * r, const BIGNUM* a, const BIGNUM* b, BN_MONT_CTX* m, BN_CTX* ctx), (r, a, b, m, ctx))
MOAT_FORWARD(int, BN_mod_exp_mont_consttime,
             (BIGNUM * rr, const BIGNUM* a, const BIGNUM* p, const BIGNUM* m, BN_CTX* ctx, BN_MONT_CTX* in_mont),
             (rr, a, p, m, ctx, in_mont))

// AES-256-CTR, SHA-256, randomness, comparison (pipe/crypto.cpp, plan/digest.cpp).
MOAT_FORWARD(EVP_CIPHER*, EVP_CIPHER_fetch, (OSSL_LIB_CTX * ctx, const char* algorithm, const char* properties),
             (ctx, algorithm, properties))
MOAT_FORWARD(EVP_CIPHER_CTX*, EVP_CIPHER_CTX_new, (void), ())
MOAT_FORWARD(void, EVP_CIPHER_CTX_free, (EVP_CIPHER_CTX * c), (c))
MOAT_FORWARD(int, EVP_EncryptInit_ex,
             (EVP_CIPHER_CTX * ctx, const EVP_CIPHER* cipher, ENGINE* impl, const unsigned char* key,
              const unsigned char* iv),
             (ctx, cipher, impl, key, iv))
MOAT_FORWARD(int, EVP_EncryptUpdate,
             (EVP_CIPHER_CTX * ctx, unsigned char* out, int* outl, const unsigned char* in, int inl),
             (ctx, out, outl, in, inl))
MOAT_FORWARD(EVP_MD_CTX*, EVP_MD_CTX_new, (void), ())
MOAT_FORWARD(void, EVP_MD_CTX_free, (EVP_MD_CTX * ctx), (ctx))
MOAT_FORWARD(const EVP_MD*, EVP_sha256, (void), ())
MOAT_FORWARD(int, EVP_DigestInit_ex, (EVP_MD_CTX * ctx, const EVP_MD* type, ENGINE* impl), (ctx, type, impl))
MOAT_FORWARD(int, EVP_DigestUpdate, (EVP_MD_CTX * ctx, const void* d, size_t cnt), (ctx, d, cnt))
MOAT_FORWARD(int, EVP_DigestFinal_ex, (EVP_MD_CTX * ctx, unsigned char* md, unsigned int* s), (ctx, md, s))
MOAT_FORWARD(unsigned char*, SHA256, (const unsigned char* d, size_t n, unsigned char* md), (d, n, md))
MOAT_FORWARD(int, SHA256_Init, (SHA256_CTX * c), (c))
MOAT_FORWARD(int, SHA256_Update, (SHA256_CTX * c, const void* data, size_t len), (c, data, len))
MOAT_FORWARD(int, SHA256_Final, (unsigned char* md, SHA256_CTX* c), (md, c))
MOAT_FORWARD(int, RAND_bytes, (unsigned char* buf, int num), (buf, num))
MOAT_FORWARD(int, CRYPTO_memcmp, (const void* a, const void* b, size_t len), (a, b, len))

// Base64 of WireGuard keys (tunnel/wireguard.cpp).
MOAT_FORWARD(int, EVP_DecodeBlock, (unsigned char* t, const unsigned char* f, int n), (t, f, n))

// Wiping needs no library: explicit_bzero(3) is never optimised away either.
extern "C" void OPENSSL_cleanse(void* ptr, size_t len) { ::explicit_bzero(ptr, len); }

#pragma GCC visibility pop
