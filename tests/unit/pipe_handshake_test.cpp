// Diffie-Hellman against plain BN_mod_exp, the handshake state machine
// between two instances (and against a hand-computed transcript), address
// syntax and command-line rejection.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>
#include <vector>

#include "pipe/address.hpp"
#include "pipe/handshake.hpp"
#include "pipe/pipe.hpp"
#include "sys/error.hpp"

using namespace moat::pipe;

namespace {

const dh_group& group() {
    static const dh_group g;
    return g;
}

secret32 key_of(std::uint8_t v) {
    secret32 k;
    k.bytes.fill(v);
    return k;
}

void run_jobs(handshake& h) {
    bn_ctx_ptr ctx(BN_CTX_new());
    while (auto job = h.take_job()) {
        job->run(ctx.get());
        h.complete_job(job);
    }
}

// Shuttles bytes between the two until neither makes progress.
void converse(handshake& c, handshake& s) {
    for (int round = 0; round < 20; ++round) {
        run_jobs(c);
        run_jobs(s);
        auto& co = c.output();
        std::size_t used = s.feed(co);
        co.erase(co.begin(), co.begin() + long(used));
        auto& so = s.output();
        used = c.feed(so);
        so.erase(so.begin(), so.begin() + long(used));
    }
}

bool same(const direction_keys& a, const direction_keys& b) {
    return a.cipher_key.bytes == b.cipher_key.bytes && a.mac_key.bytes == b.mac_key.bytes;
}

}  // namespace

TEST(PipeDh, TableExponentiationMatchesBnModExp) {
    bn_ctx_ptr ctx(BN_CTX_new());
    for (int i = 0; i < 8; ++i) {
        bn_ptr x;
        dh_value y;
        group().generate(x, y, ctx.get());
        EXPECT_EQ(BN_num_bits(x.get()), 259);
        bn_ptr two(BN_new()), want(BN_new());
        BN_set_word(two.get(), 2);
        BN_mod_exp(want.get(), two.get(), x.get(), group().prime(), ctx.get());
        dh_value w;
        BN_bn2binpad(want.get(), w.data(), 256);
        EXPECT_EQ(y, w);
    }
    // Edge exponents: 0 and a single high digit.
    bn_ptr x(BN_new());
    dh_value y;
    BN_zero(x.get());
    group().power_of_generator(x.get(), y, ctx.get());
    EXPECT_TRUE(dh_is_one(y));
    BN_set_word(x.get(), 15);
    BN_lshift(x.get(), x.get(), 256);
    group().power_of_generator(x.get(), y, ctx.get());
    bn_ptr two(BN_new()), want(BN_new());
    BN_set_word(two.get(), 2);
    BN_mod_exp(want.get(), two.get(), x.get(), group().prime(), ctx.get());
    dh_value w;
    BN_bn2binpad(want.get(), w.data(), 256);
    EXPECT_EQ(y, w);
}

TEST(PipeDh, BothSidesAgreeAndBadValuesAreRefused) {
    bn_ctx_ptr ctx(BN_CTX_new());
    bn_ptr a, b;
    dh_value ya, yb, za, zb;
    group().generate(a, ya, ctx.get());
    group().generate(b, yb, ctx.get());
    group().shared_secret(a.get(), yb, za, ctx.get());
    group().shared_secret(b.get(), ya, zb, ctx.get());
    EXPECT_EQ(za, zb);
    dh_value p;
    BN_bn2binpad(group().prime(), p.data(), 256);
    EXPECT_FALSE(group().acceptable(p, false));
    dh_value ff;
    ff.fill(0xff);
    EXPECT_FALSE(group().acceptable(ff, false));
    dh_value pm1 = p;
    pm1[255] -= 1;
    EXPECT_TRUE(group().acceptable(pm1, false));
    EXPECT_TRUE(group().acceptable(dh_one(), false));
    EXPECT_FALSE(group().acceptable(dh_one(), true));
}

TEST(PipeHandshake, PeersDeriveMatchingKeysInEveryPfsCombination) {
    for (int mode = 0; mode < 4; ++mode) {
        bool cf = mode & 1, sf = mode & 2;
        auto k = key_of(0x42);
        handshake c(role::client, k, group(), cf, false);
        handshake s(role::server, k, group(), sf, false);
        converse(c, s);
        ASSERT_EQ(c.status(), handshake::state::done) << mode;
        ASSERT_EQ(s.status(), handshake::state::done) << mode;
        EXPECT_TRUE(same(c.keys().out, s.keys().in));
        EXPECT_TRUE(same(c.keys().in, s.keys().out));
        EXPECT_FALSE(same(c.keys().out, c.keys().in));
        EXPECT_EQ(c.wanted(), 0u);
    }
}

TEST(PipeHandshake, WrongKeyFailsAtTheServer) {
    auto k1 = key_of(1), k2 = key_of(2);
    handshake c(role::client, k1, group(), false, false);
    handshake s(role::server, k2, group(), false, false);
    converse(c, s);
    EXPECT_EQ(s.status(), handshake::state::failed);
    EXPECT_NE(c.status(), handshake::state::done);
}

TEST(PipeHandshake, RequirePfsRejectsANoPfsPeer) {
    auto k = key_of(3);
    handshake c(role::client, k, group(), true, false);
    handshake s(role::server, k, group(), false, true);
    converse(c, s);
    EXPECT_EQ(s.status(), handshake::state::failed);
    handshake c2(role::client, k, group(), false, true);
    handshake s2(role::server, k, group(), true, false);
    converse(c2, s2);
    EXPECT_EQ(c2.status(), handshake::state::failed);
}

// The transcript of a -f client, computed by hand with one-shot APIs.
TEST(PipeHandshake, ClientTranscriptMatchesTheProtocol) {
    auto k = key_of(7);
    std::array<std::uint8_t, 32> nc, ns;
    nc.fill(0xc1);
    ns.fill(0x5e);
    handshake c(role::client, k, group(), true, false, nc);
    ASSERT_EQ(c.output().size(), 32u);
    EXPECT_TRUE(std::equal(nc.begin(), nc.end(), c.output().begin()));
    c.output().clear();
    EXPECT_EQ(c.feed(ns), 32u);
    std::uint8_t salt[64], dk1[64];
    std::memcpy(salt, nc.data(), 32);
    std::memcpy(salt + 32, ns.data(), 32);
    PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(k.data()), 32, salt, 64, 1, EVP_sha256(), 64, dk1);
    dh_value one = dh_one();
    std::uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), dk1, 32, one.data(), 256, mac, &ml);
    ASSERT_EQ(c.output().size(), 288u);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), c.output().begin()));
    EXPECT_TRUE(std::equal(mac, mac + 32, c.output().begin() + 256));

    // Server's y = 1 with its MAC, then trailing data that must stay unread.
    std::vector<std::uint8_t> in(one.begin(), one.end());
    HMAC(EVP_sha256(), dk1 + 32, 32, one.data(), 256, mac, &ml);
    in.insert(in.end(), mac, mac + 32);
    in.insert(in.end(), 100, 0xdd);
    EXPECT_EQ(c.feed(in), 288u);
    ASSERT_EQ(c.status(), handshake::state::done);
    std::uint8_t salt2[64 + 256], dk2[128];
    std::memcpy(salt2, salt, 64);
    std::memcpy(salt2 + 64, one.data(), 256);
    PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(k.data()), 32, salt2, sizeof salt2, 1, EVP_sha256(), 128, dk2);
    EXPECT_EQ(0, std::memcmp(c.keys().out.cipher_key.data(), dk2, 32));
    EXPECT_EQ(0, std::memcmp(c.keys().out.mac_key.data(), dk2 + 32, 32));
    EXPECT_EQ(0, std::memcmp(c.keys().in.cipher_key.data(), dk2 + 64, 32));
    EXPECT_EQ(0, std::memcmp(c.keys().in.mac_key.data(), dk2 + 96, 32));
}

TEST(PipeHandshake, ServerWaitsForTheClientsValueAndRejectsABadMac) {
    auto k = key_of(8);
    handshake s(role::server, k, group(), true, false);
    std::array<std::uint8_t, 32> nc{};
    s.output().clear();
    s.feed(nc);
    run_jobs(s);
    EXPECT_TRUE(s.output().empty());  // y_S only after y_C checked out
    std::vector<std::uint8_t> junk(288, 0);
    junk[255] = 1;
    EXPECT_EQ(s.feed(junk), 288u);
    EXPECT_EQ(s.status(), handshake::state::failed);
    EXPECT_TRUE(s.output().empty());
}

TEST(PipeAddress, SpipedSyntax) {
    auto u = resolve("/tmp/some.sock");
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].family(), AF_UNIX);
    EXPECT_EQ(resolve("127.0.0.1:8080")[0].str(), "127.0.0.1:8080");
    EXPECT_EQ(resolve("[127.0.0.1]:80")[0].str(), "127.0.0.1:80");
    EXPECT_EQ(resolve("[::1]:443")[0].str(), "[::1]:443");
    for (const char* bad : {"nocolon", "[::1]443", "host:", ":80", "1.2.3.4:http", "[::1:80"}) {
        EXPECT_THROW(resolve(bad), moat::usage_error) << bad;
    }
}

TEST(PipeCli, UsageErrorsExitOneLikeSpiped) {
    auto run = [](std::vector<std::string> args) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        return spiped_main(int(args.size()), argv.data());
    };
    EXPECT_EQ(run({"pipe"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-d", "-s", "[::1]:1", "-t", "[::1]:2", "-k", "/dev/null"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-s", "[::1]:1", "-t", "[::1]:2"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-f", "-g", "-s", "[::1]:1", "-t", "[::1]:2", "-k", "/dev/null"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-r", "5", "-R", "-s", "[::1]:1", "-t", "[::1]:2", "-k", "/dev/null"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-n", "x", "-s", "[::1]:1", "-t", "[::1]:2", "-k", "/dev/null"}), 1);
    EXPECT_EQ(run({"pipe", "-e", "-o", "-1", "-s", "[::1]:1", "-t", "[::1]:2", "-k", "/dev/null"}), 1);
    EXPECT_EQ(run({"pipe", "-x"}), 1);
    EXPECT_EQ(run({"pipe", "-v"}), 0);
}
