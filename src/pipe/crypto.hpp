// Symmetric crypto of the spiped protocol: the key file hash, PBKDF2 key
// derivation, a pre-keyed HMAC-SHA256 and the 1060-byte packet format.
//
// Speed matters here: one HMAC over 1036 bytes per 1024 payload bytes is the
// data path's main cost. The HMAC keeps the SHA-256 states after absorbing
// ipad and opad, so a packet costs a 112-byte struct copy instead of a key
// schedule or an EVP context duplication (which mallocs in OpenSSL 3.0).
// AES-256-CTR uses one EVP context per direction whose IV is reset per packet
// (counter block = be64(packet number) || be64(block index)), so the AES key
// schedule also happens once per connection.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace moat::pipe {

inline constexpr std::size_t max_payload = 1024;     // M is 1..1024 bytes
inline constexpr std::size_t block_size = 1028;      // M || padding || be32(len)
inline constexpr std::size_t tag_size = 32;
inline constexpr std::size_t packet_size = block_size + tag_size;  // 1060 on the wire

// 32 secret bytes that are wiped when they go away.
struct secret32 {
    std::array<std::uint8_t, 32> bytes{};
    secret32() = default;
    secret32(const secret32&) = default;
    secret32& operator=(const secret32&) = default;
    ~secret32();
    std::uint8_t* data() { return bytes.data(); }
    const std::uint8_t* data() const { return bytes.data(); }
};

// K = SHA-256 of the whole key file ("-" = standard input); any length works.
secret32 hash_key_file(const std::string& path);
secret32 sha256(std::span<const std::uint8_t> data);

// PBKDF2-HMAC-SHA256 with one iteration, as spiped uses it.
void pbkdf2_sha256(std::span<const std::uint8_t> password, std::span<const std::uint8_t> salt,
                   std::span<std::uint8_t> out);

// HMAC-SHA256 with the key absorbed once (see the header comment).
class hmac_sha256 {
public:
    hmac_sha256();
    explicit hmac_sha256(std::span<const std::uint8_t> key);
    ~hmac_sha256();
    hmac_sha256(const hmac_sha256&) = default;
    hmac_sha256& operator=(const hmac_sha256&) = default;

    // tag = HMAC(key, a || b)
    void mac(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
             std::uint8_t tag[tag_size]) const;

private:
    // Room for OpenSSL's SHA256_CTX (112 bytes) without including the
    // deprecated header here; crypto.cpp checks the size.
    alignas(8) std::uint8_t _inner[128];
    alignas(8) std::uint8_t _outer[128];
};

struct cipher_ctx_deleter {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

// One direction's keys: E (AES-256) and H (HMAC) from dk2.
struct direction_keys {
    secret32 cipher_key;
    secret32 mac_key;
};

// Encrypts one direction. Packet numbers start at `first` (tests start near
// the end) and never wrap: after number 2^64-1 was used, seal() refuses.
class packet_sealer {
public:
    explicit packet_sealer(const direction_keys& keys, std::uint64_t first = 0);
    // Writes one 1060-byte packet carrying `msg` (1..1024 bytes) to `out`.
    // False when the packet counter is exhausted.
    bool seal(std::span<const std::uint8_t> msg, std::uint8_t* out);
    // Seals `data` cut into 1024-byte pieces; returns bytes written to `out`
    // (which needs packets_for(data.size()) * 1060 bytes) or -1 when exhausted.
    long seal_stream(std::span<const std::uint8_t> data, std::uint8_t* out);
    std::uint64_t next_number() const { return _next; }

private:
    cipher_ctx_ptr _aes;
    hmac_sha256 _hmac;
    std::uint64_t _next;
    bool _exhausted = false;
};

// Verifies and decrypts one direction, with the same counter discipline.
class packet_opener {
public:
    explicit packet_opener(const direction_keys& keys, std::uint64_t first = 0);
    // Checks the tag, then decrypts: writes 1028 bytes at `out` of which the
    // first *len are the payload. False on a bad tag, a length of 0 or more
    // than 1024, or an exhausted counter; nothing should be delivered then.
    bool open(const std::uint8_t* packet, std::uint8_t* out, std::size_t* len);
    std::uint64_t next_number() const { return _next; }

private:
    cipher_ctx_ptr _aes;
    hmac_sha256 _hmac;
    std::uint64_t _next;
    bool _exhausted = false;
};

inline constexpr std::size_t packets_for(std::size_t bytes) {
    return (bytes + max_payload - 1) / max_payload;
}

// Cryptographically random bytes from OpenSSL's DRBG (nonces, exponents).
void random_bytes(std::span<std::uint8_t> out);
// A handshake nonce (public, sent in the clear). Served from a per-thread
// pool refilled 32 nonces at a time: every RAND_bytes call costs a getpid()
// (OpenSSL's fork check), which was one syscall per connection.
void random_nonce(std::span<std::uint8_t, 32> out);
// Straight from getrandom(): long-lived keys (moat keygen).
void kernel_random_bytes(std::span<std::uint8_t> out);
// OPENSSL_cleanse for any buffer.
void wipe(void* p, std::size_t n);

}  // namespace moat::pipe
