// Packets, HMAC, PBKDF2 and the key hash, each checked against a second,
// independent computation (OpenSSL's one-shot HMAC()/EVP APIs or published
// test vectors) rather than against itself.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "pipe/crypto.hpp"

using namespace moat::pipe;

namespace {

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::string hex(const std::uint8_t* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += d[p[i] >> 4];
        out += d[p[i] & 15];
    }
    return out;
}

direction_keys test_keys(std::uint8_t seed) {
    direction_keys k;
    for (int i = 0; i < 32; ++i) {
        k.cipher_key.bytes[i] = std::uint8_t(seed + i);
        k.mac_key.bytes[i] = std::uint8_t(seed * 7 + i * 3);
    }
    return k;
}

void be64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = std::uint8_t(v);
}

// The packet format computed the slow, obvious way with one-shot APIs.
std::vector<std::uint8_t> reference_packet(const direction_keys& k, std::uint64_t n,
                                           const std::vector<std::uint8_t>& msg, std::uint32_t len_field) {
    std::uint8_t block[block_size] = {};
    std::memcpy(block, msg.data(), msg.size());
    block[1024] = std::uint8_t(len_field >> 24);
    block[1025] = std::uint8_t(len_field >> 16);
    block[1026] = std::uint8_t(len_field >> 8);
    block[1027] = std::uint8_t(len_field);
    std::uint8_t iv[16] = {};
    be64(iv, n);
    std::vector<std::uint8_t> out(packet_size);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), nullptr, k.cipher_key.data(), iv);
    EVP_EncryptUpdate(c, out.data(), &l1, block, block_size);
    EVP_EncryptFinal_ex(c, out.data() + l1, &l2);
    EVP_CIPHER_CTX_free(c);
    std::vector<std::uint8_t> mac_in(out.begin(), out.begin() + block_size);
    mac_in.resize(block_size + 8);
    be64(mac_in.data() + block_size, n);
    unsigned tl = 0;
    HMAC(EVP_sha256(), k.mac_key.data(), 32, mac_in.data(), mac_in.size(), out.data() + block_size, &tl);
    return out;
}

}  // namespace

TEST(PipeCrypto, Pbkdf2MatchesPublishedVectors) {
    // RFC 7914 section 11 (PBKDF2-HMAC-SHA256, c = 1, 64 bytes).
    std::vector<std::uint8_t> out(64);
    pbkdf2_sha256(bytes_of("passwd"), bytes_of("salt"), out);
    EXPECT_EQ(hex(out.data(), out.size()),
              "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
              "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    std::vector<std::uint8_t> out32(32);
    pbkdf2_sha256(bytes_of("password"), bytes_of("salt"), out32);
    EXPECT_EQ(hex(out32.data(), 32), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
}

TEST(PipeCrypto, HmacMatchesOneShotHmac) {
    for (std::size_t klen : {0u, 1u, 32u, 64u, 65u, 200u}) {
        std::vector<std::uint8_t> key(klen), a(1028), b(8);
        for (std::size_t i = 0; i < klen; ++i) key[i] = std::uint8_t(i * 13 + 1);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::uint8_t(i);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::uint8_t(0xf0 + i);
        hmac_sha256 h(key);
        std::uint8_t tag[32];
        h.mac(a, b, tag);
        std::vector<std::uint8_t> ab(a);
        ab.insert(ab.end(), b.begin(), b.end());
        std::uint8_t want[32];
        unsigned wl = 0;
        HMAC(EVP_sha256(), key.data(), int(key.size()), ab.data(), ab.size(), want, &wl);
        EXPECT_EQ(hex(tag, 32), hex(want, 32)) << "key length " << klen;
        // The pre-keyed state is reused, not consumed.
        h.mac(a, b, tag);
        EXPECT_EQ(hex(tag, 32), hex(want, 32));
    }
}

TEST(PipeCrypto, KeyFileHashIsSha256OfWholeFile) {
    char path[] = "/tmp/moat-pipe-key-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    // Empty files are valid keys, as in spiped.
    EXPECT_EQ(hex(hash_key_file(path).data(), 32),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    std::string content(100000, 'k');
    content += "\n\0tail";
    std::ofstream(path, std::ios::binary) << content;
    std::uint8_t want[32];
    SHA256(reinterpret_cast<const std::uint8_t*>(content.data()), content.size(), want);
    EXPECT_EQ(hex(hash_key_file(path).data(), 32), hex(want, 32));
    unlink(path);
    EXPECT_THROW(hash_key_file(path), std::exception);
}

TEST(PipeCrypto, SealMatchesReferenceEncoding) {
    auto k = test_keys(1);
    packet_sealer s(k);
    for (std::uint64_t n = 0; n < 3; ++n) {
        for (std::size_t len : {1u, 100u, 1023u, 1024u}) {
            std::vector<std::uint8_t> msg(len);
            for (std::size_t i = 0; i < len; ++i) msg[i] = std::uint8_t(i * 7 + n);
            std::vector<std::uint8_t> out(packet_size);
            packet_sealer one(k, n);
            ASSERT_TRUE(one.seal(msg, out.data()));
            EXPECT_EQ(out, reference_packet(k, n, msg, std::uint32_t(len))) << "n=" << n << " len=" << len;
        }
    }
}

TEST(PipeCrypto, StreamRoundTrip) {
    auto k = test_keys(9);
    packet_sealer s(k);
    packet_opener o(k);
    std::vector<std::uint8_t> data(5000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::uint8_t(i * 31);
    std::vector<std::uint8_t> wire(packets_for(data.size()) * packet_size);
    ASSERT_EQ(s.seal_stream(data, wire.data()), long(wire.size()));
    EXPECT_EQ(wire.size(), 5u * packet_size);
    std::vector<std::uint8_t> back(5 * 1024 + 4);
    std::size_t produced = 0;
    for (std::size_t off = 0; off < wire.size(); off += packet_size) {
        std::size_t len = 0;
        ASSERT_TRUE(o.open(wire.data() + off, back.data() + produced, &len));
        produced += len;
    }
    back.resize(produced);
    EXPECT_EQ(back, data);
    EXPECT_EQ(s.next_number(), 5u);
    EXPECT_EQ(o.next_number(), 5u);
}

TEST(PipeCrypto, AnyFlippedBitIsRejected) {
    auto k = test_keys(3);
    std::vector<std::uint8_t> msg(700, 0x5a), pkt(packet_size), out(block_size);
    packet_sealer(k).seal(msg, pkt.data());
    for (std::size_t bit = 0; bit < packet_size * 8; bit += 37) {
        auto bad = pkt;
        bad[bit / 8] ^= std::uint8_t(1u << (bit % 8));
        packet_opener o(k);
        std::size_t len = 0;
        EXPECT_FALSE(o.open(bad.data(), out.data(), &len)) << "bit " << bit;
    }
    packet_opener o(k);
    std::size_t len = 0;
    EXPECT_TRUE(o.open(pkt.data(), out.data(), &len));
    EXPECT_EQ(len, 700u);
}

TEST(PipeCrypto, WrongKeyOrWrongNumberIsRejected) {
    auto k = test_keys(4);
    std::vector<std::uint8_t> msg(10, 1), pkt(packet_size), out(block_size);
    packet_sealer(k).seal(msg, pkt.data());
    std::size_t len = 0;
    EXPECT_FALSE(packet_opener(test_keys(5)).open(pkt.data(), out.data(), &len));
    // A replayed or reordered packet carries the wrong number.
    EXPECT_FALSE(packet_opener(k, 1).open(pkt.data(), out.data(), &len));
}

TEST(PipeCrypto, LengthZeroAndAbove1024AreRejected) {
    auto k = test_keys(6);
    std::vector<std::uint8_t> msg(1024, 0x11), out(block_size);
    std::size_t len = 0;
    for (std::uint32_t bad_len : {0u, 1025u, 0xffffffffu}) {
        auto pkt = reference_packet(k, 0, msg, bad_len);
        EXPECT_FALSE(packet_opener(k).open(pkt.data(), out.data(), &len)) << bad_len;
    }
    auto good = reference_packet(k, 0, msg, 1024);
    EXPECT_TRUE(packet_opener(k).open(good.data(), out.data(), &len));
    EXPECT_EQ(len, 1024u);
    std::vector<std::uint8_t> pkt(packet_size);
    EXPECT_FALSE(packet_sealer(k).seal({}, pkt.data()));
    std::vector<std::uint8_t> big(1025);
    EXPECT_FALSE(packet_sealer(k).seal(big, pkt.data()));
}

TEST(PipeCrypto, CountersRefuseToWrap) {
    auto k = test_keys(7);
    packet_sealer s(k, UINT64_MAX - 1);
    packet_opener o(k, UINT64_MAX - 1);
    std::vector<std::uint8_t> msg(5, 9), pkt(packet_size), out(block_size);
    std::size_t len = 0;
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(s.seal(msg, pkt.data()));
        ASSERT_TRUE(o.open(pkt.data(), out.data(), &len));
    }
    // Number 2^64-1 was used; 0 must never come next.
    EXPECT_FALSE(s.seal(msg, pkt.data()));
    EXPECT_EQ(s.seal_stream(msg, pkt.data()), -1);
    packet_sealer wrapped(k, 0);
    ASSERT_TRUE(wrapped.seal(msg, pkt.data()));
    EXPECT_FALSE(o.open(pkt.data(), out.data(), &len));
}
