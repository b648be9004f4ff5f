// Interop with Debian's spiped 1.6.2 in every combination, and the failure
// discipline: wrong key, -g against -f, flipped bits.
#include <gtest/gtest.h>

#include "pipe_harness.hpp"

using namespace pipe_test;

namespace {

struct pipe_pair {
    temp_dir dir;
    echo_server target;
    process dec, enc;
    int port = 0;
};

// Starts enc_impl -e -> dec_impl -d -> echo server; `via` puts a proxy port
// between them when non-zero.
void start_pair(pipe_pair& p, const std::string& enc_impl, const std::string& dec_impl,
                const std::vector<std::string>& enc_flags, const std::vector<std::string>& dec_flags,
                const std::string& enc_key = "", int via = 0) {
    std::string key = p.dir.file("key");
    write_file(key, "the shared key\n");
    int dec_port = free_port();
    p.dec = start_pipe(dec_impl, false, dec_port, "127.0.0.1:" + std::to_string(p.target.port()), key, dec_flags);
    p.port = free_port();
    if (!enc_key.empty()) {
        write_file(p.dir.file("other"), enc_key);
        key = p.dir.file("other");
    }
    int hop = via ? via : dec_port;
    p.enc = start_pipe(enc_impl, true, p.port, "127.0.0.1:" + std::to_string(hop), key, enc_flags);
}

bool is_prefix(const std::string& part, const std::string& whole) {
    return part.size() <= whole.size() && whole.compare(0, part.size(), part) == 0;
}

struct interop_case {
    const char* enc;
    const char* dec;
    int no_pfs;  // 0 none, 1 the -e side, 2 the -d side
};

class PipeInterop : public ::testing::TestWithParam<interop_case> {};

}  // namespace

TEST_P(PipeInterop, DataAndHalfCloseBothWays) {
    auto c = GetParam();
    pipe_pair p;
    std::vector<std::string> f = {"-f"}, none;
    start_pair(p, c.enc, c.dec, c.no_pfs == 1 ? f : none, c.no_pfs == 2 ? f : none);
    // The target answers only after it saw EOF, so a reply proves the
    // client's shutdown(SHUT_WR) crossed both pipes and the answer still
    // came back on the half-open connection.
    for (std::size_t size : {1u, 1024u, 1025u, 300000u}) {
        std::string data = make_data(size, unsigned(size));
        reply r = roundtrip(p.port, data);
        EXPECT_TRUE(r.eof) << size;
        EXPECT_EQ(r.data.size(), data.size()) << size;
        EXPECT_TRUE(r.data == data) << size;
    }
    // An empty connection: EOF goes through with no packet at all.
    reply r = roundtrip(p.port, "");
    EXPECT_TRUE(r.eof);
    EXPECT_EQ(r.data, "");
}

INSTANTIATE_TEST_SUITE_P(
    AllCombinations, PipeInterop,
    ::testing::Values(interop_case{"moat", "spiped", 0}, interop_case{"spiped", "moat", 0},
                      interop_case{"moat", "moat", 0}, interop_case{"moat", "spiped", 1},
                      interop_case{"spiped", "moat", 1}, interop_case{"moat", "moat", 1},
                      interop_case{"moat", "spiped", 2}, interop_case{"spiped", "moat", 2},
                      interop_case{"moat", "moat", 2}),
    [](const auto& info) {
        return std::string(info.param.enc) + "_to_" + info.param.dec +
               (info.param.no_pfs == 1 ? "_e_nopfs" : info.param.no_pfs == 2 ? "_d_nopfs" : "");
    });

TEST(PipeFailure, RequirePfsRefusesNoPfsPeer) {
    struct side { const char* enc; const char* dec; std::vector<std::string> ef, df; };
    for (const side& s : {side{"spiped", "moat", {"-f"}, {"-g"}}, side{"moat", "spiped", {"-f"}, {"-g"}},
                          side{"moat", "moat", {"-g"}, {"-f"}}, side{"moat", "spiped", {"-g"}, {"-f"}}}) {
        pipe_pair p;
        start_pair(p, s.enc, s.dec, s.ef, s.df);
        reply r = roundtrip(p.port, "must not arrive", 5s);
        EXPECT_TRUE(r.eof) << s.enc << " -> " << s.dec;
        EXPECT_EQ(r.data, "");
        EXPECT_EQ(p.target.bytes_received(), 0u);
    }
}

TEST(PipeFailure, WrongKeyPassesNothing) {
    for (auto [enc, dec] : {std::pair{"moat", "spiped"}, {"spiped", "moat"}, {"moat", "moat"}}) {
        pipe_pair p;
        start_pair(p, enc, dec, {}, {}, "a different key\n");
        reply r = roundtrip(p.port, make_data(50000, 1), 5s);
        EXPECT_TRUE(r.eof) << enc << " -> " << dec;
        EXPECT_EQ(r.data, "");
        EXPECT_EQ(p.target.bytes_received(), 0u);
    }
}

// 32-byte nonce, then the client's 288-byte public value.
constexpr std::size_t client_hs = 32 + 288;

TEST(PipeFailure, FlippedBitTowardsDecryptorClosesWithoutCorruption) {
    for (const char* enc : {"moat", "spiped"}) {
        pipe_pair p;
        std::string key = p.dir.file("key");
        write_file(key, "k");
        int dec_port = free_port();
        p.dec = start_pipe("moat", false, dec_port, "127.0.0.1:" + std::to_string(p.target.port()), key);
        flip_proxy proxy(dec_port, client_hs + 3 * 1060 + 500, true);  // inside packet #3
        p.port = free_port();
        p.enc = start_pipe(enc, true, p.port, "127.0.0.1:" + std::to_string(proxy.port()), key);
        std::string data = make_data(200000, 7);
        reply r = roundtrip(p.port, data, 5s);
        EXPECT_TRUE(r.eof) << enc;
        EXPECT_EQ(r.data, "") << enc;
        for (auto& got : p.target.finished_payloads()) {
            EXPECT_TRUE(is_prefix(got, data)) << enc;
            EXPECT_LE(got.size(), 3u * 1024) << enc;
        }
    }
}

TEST(PipeFailure, FlippedBitTowardsEncryptorClosesWithoutCorruption) {
    for (const char* dec : {"moat", "spiped"}) {
        pipe_pair p;
        std::string key = p.dir.file("key");
        write_file(key, "k");
        int dec_port = free_port();
        p.dec = start_pipe(dec, false, dec_port, "127.0.0.1:" + std::to_string(p.target.port()), key);
        flip_proxy proxy(dec_port, 32 + 288 + 2 * 1060 + 10, false);  // the reply's packet #2
        p.port = free_port();
        p.enc = start_pipe("moat", true, p.port, "127.0.0.1:" + std::to_string(proxy.port()), key);
        std::string data = make_data(200000, 8);
        reply r = roundtrip(p.port, data, 5s);
        EXPECT_TRUE(r.eof) << dec;
        EXPECT_TRUE(is_prefix(r.data, data)) << dec;
        EXPECT_LE(r.data.size(), 2u * 1024) << dec;
    }
}
