// SHA256_Init and friends are deprecated in OpenSSL 3.0 but remain the only
// way to snapshot a SHA-256 state without a heap allocation per packet.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "pipe/crypto.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

namespace moat::pipe {

static_assert(sizeof(SHA256_CTX) <= 128, "hmac_sha256 state buffer too small");

namespace {

void put_be64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
}

void put_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

cipher_ctx_ptr make_aes_ctr(const secret32& key) {
    // Fetched once: the implicit fetch behind EVP_aes_256_ctr() takes locks
    // and string compares on every connection. Immutable after first use.
    static EVP_CIPHER* const aes = EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr);
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!aes || !ctx || EVP_EncryptInit_ex(ctx.get(), aes, nullptr, key.data(), nullptr) != 1) {
        throw moat::error("setting up AES-256-CTR");
    }
    return ctx;
}

// CTR is its own inverse, so both directions only ever "encrypt".
void ctr_crypt(EVP_CIPHER_CTX* ctx, std::uint64_t n, const std::uint8_t* in, std::size_t len,
               std::uint8_t* out) {
    std::uint8_t iv[16] = {};
    put_be64(iv, n);
    int outl = 0;
    if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1 ||
        EVP_EncryptUpdate(ctx, out, &outl, in, static_cast<int>(len)) != 1) {
        throw moat::error("AES-256-CTR failed");
    }
}

}  // namespace

secret32::~secret32() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

void wipe(void* p, std::size_t n) { OPENSSL_cleanse(p, n); }

void kernel_random_bytes(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t r = ::getrandom(out.data() + done, out.size() - done, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            throw sys::errno_error("reading random bytes");
        }
        done += static_cast<std::size_t>(r);
    }
}

void random_bytes(std::span<std::uint8_t> out) {
    // OpenSSL's DRBG is seeded from getrandom() and reseeds itself; it saves
    // a system call per nonce and per exponent.
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
        throw moat::error("reading random bytes: the OpenSSL DRBG failed");
    }
}

void random_nonce(std::span<std::uint8_t, 32> out) {
    // Nonces are public, so keeping unused ones around is harmless; the pool
    // is per thread so the loop and the DH workers never share it.
    thread_local std::array<std::uint8_t, 32 * 32> pool;
    thread_local std::size_t used = pool.size();
    if (used == pool.size()) {
        random_bytes(pool);
        used = 0;
    }
    std::memcpy(out.data(), pool.data() + used, out.size());
    used += out.size();
}

secret32 sha256(std::span<const std::uint8_t> data) {
    secret32 out;
    SHA256(data.data(), data.size(), out.data());
    return out;
}

secret32 hash_key_file(const std::string& path) {
    sys::unique_fd owned;
    int fd = STDIN_FILENO;
    if (path != "-") {
        owned.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!owned) {
            throw sys::errno_error("opening key file " + path);
        }
        fd = owned.get();
    }
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    std::uint8_t buf[4096];
    for (;;) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            OPENSSL_cleanse(&ctx, sizeof ctx);
            throw sys::errno_error("reading key file " + path);
        }
        if (r == 0) {
            break;
        }
        SHA256_Update(&ctx, buf, static_cast<std::size_t>(r));
    }
    secret32 out;
    SHA256_Final(out.data(), &ctx);
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    return out;
}

void pbkdf2_sha256(std::span<const std::uint8_t> password, std::span<const std::uint8_t> salt,
                   std::span<std::uint8_t> out) {
    // With one iteration PBKDF2 (RFC 8018 5.2) is block i = HMAC(P, S || be32(i)).
    // Done directly because PKCS5_PBKDF2_HMAC fetches and allocates a MAC
    // per call, a visible cost at thousands of handshakes per second.
    hmac_sha256 h(password);
    std::uint8_t block[32];
    for (std::uint32_t i = 1; (i - 1) * 32 < out.size(); ++i) {
        std::uint8_t be[4];
        put_be32(be, i);
        h.mac(salt, be, block);
        std::size_t off = std::size_t(i - 1) * 32;
        std::memcpy(out.data() + off, block, std::min<std::size_t>(32, out.size() - off));
    }
    OPENSSL_cleanse(block, sizeof block);
}

hmac_sha256::hmac_sha256() : hmac_sha256(std::span<const std::uint8_t>{}) {}

hmac_sha256::hmac_sha256(std::span<const std::uint8_t> key) {
    // RFC 2104: keys longer than the block are hashed first.
    std::uint8_t k[64] = {};
    if (key.size() > sizeof k) {
        SHA256(key.data(), key.size(), k);
    } else if (!key.empty()) {
        std::memcpy(k, key.data(), key.size());
    }
    std::uint8_t pad[64];
    auto* inner = reinterpret_cast<SHA256_CTX*>(_inner);
    auto* outer = reinterpret_cast<SHA256_CTX*>(_outer);
    for (int i = 0; i < 64; ++i) {
        pad[i] = k[i] ^ 0x36;
    }
    SHA256_Init(inner);
    SHA256_Update(inner, pad, sizeof pad);
    for (int i = 0; i < 64; ++i) {
        pad[i] = k[i] ^ 0x5c;
    }
    SHA256_Init(outer);
    SHA256_Update(outer, pad, sizeof pad);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

hmac_sha256::~hmac_sha256() {
    OPENSSL_cleanse(_inner, sizeof _inner);
    OPENSSL_cleanse(_outer, sizeof _outer);
}

void hmac_sha256::mac(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                      std::uint8_t tag[tag_size]) const {
    SHA256_CTX ctx;
    std::memcpy(&ctx, _inner, sizeof ctx);
    SHA256_Update(&ctx, a.data(), a.size());
    if (!b.empty()) {
        SHA256_Update(&ctx, b.data(), b.size());
    }
    std::uint8_t digest[32];
    SHA256_Final(digest, &ctx);
    std::memcpy(&ctx, _outer, sizeof ctx);
    SHA256_Update(&ctx, digest, sizeof digest);
    SHA256_Final(tag, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
}

packet_sealer::packet_sealer(const direction_keys& keys, std::uint64_t first)
    : _aes(make_aes_ctr(keys.cipher_key)), _hmac(keys.mac_key.bytes), _next(first) {}

bool packet_sealer::seal(std::span<const std::uint8_t> msg, std::uint8_t* out) {
    if (_exhausted || msg.empty() || msg.size() > max_payload) {
        return false;
    }
    const std::uint64_t n = _next;
    // Encrypt straight from the caller's buffer; only the padded tail needs
    // a staging block. CTR keeps its keystream position across the two
    // updates because 1024 is a multiple of the AES block.
    std::uint8_t tail[block_size];
    std::size_t direct = msg.size() == max_payload ? max_payload : 0;
    std::memset(tail, 0, sizeof tail);
    std::memcpy(tail, msg.data() + direct, msg.size() - direct);
    put_be32(tail + max_payload - direct, static_cast<std::uint32_t>(msg.size()));
    std::uint8_t iv[16] = {};
    put_be64(iv, n);
    int outl = 0;
    if (EVP_EncryptInit_ex(_aes.get(), nullptr, nullptr, nullptr, iv) != 1 ||
        (direct && EVP_EncryptUpdate(_aes.get(), out, &outl, msg.data(), static_cast<int>(direct)) != 1) ||
        EVP_EncryptUpdate(_aes.get(), out + direct, &outl, tail, static_cast<int>(block_size - direct)) != 1) {
        throw moat::error("AES-256-CTR failed");
    }
    std::uint8_t nbuf[8];
    put_be64(nbuf, n);
    _hmac.mac({out, block_size}, nbuf, out + block_size);
    if (n == UINT64_MAX) {
        _exhausted = true;
    } else {
        _next = n + 1;
    }
    return true;
}

long packet_sealer::seal_stream(std::span<const std::uint8_t> data, std::uint8_t* out) {
    long written = 0;
    for (std::size_t off = 0; off < data.size(); off += max_payload) {
        std::size_t len = std::min(max_payload, data.size() - off);
        if (!seal(data.subspan(off, len), out + written)) {
            return -1;
        }
        written += static_cast<long>(packet_size);
    }
    return written;
}

packet_opener::packet_opener(const direction_keys& keys, std::uint64_t first)
    : _aes(make_aes_ctr(keys.cipher_key)), _hmac(keys.mac_key.bytes), _next(first) {}

bool packet_opener::open(const std::uint8_t* packet, std::uint8_t* out, std::size_t* len) {
    if (_exhausted) {
        return false;
    }
    const std::uint64_t n = _next;
    std::uint8_t nbuf[8];
    put_be64(nbuf, n);
    std::uint8_t tag[tag_size];
    _hmac.mac({packet, block_size}, nbuf, tag);
    if (CRYPTO_memcmp(tag, packet + block_size, tag_size) != 0) {
        return false;
    }
    ctr_crypt(_aes.get(), n, packet, block_size, out);
    std::uint32_t l = get_be32(out + max_payload);
    if (l == 0 || l > max_payload) {
        return false;
    }
    *len = l;
    if (n == UINT64_MAX) {
        _exhausted = true;
    } else {
        _next = n + 1;
    }
    return true;
}

}  // namespace moat::pipe
