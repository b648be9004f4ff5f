// libFuzzer target for the pipe's input parsers. The first byte picks a mode:
//   0: arbitrary bytes from a "peer" into a handshake (either role, -f/-g)
//   1: an honest -f handshake whose transcript gets one byte changed; the
//      change must make it fail, never yield keys on both sides
//   2: packets sealed with a known key, some bytes changed in transit; the
//      reader must reject every changed packet and return the others intact
//   3: arbitrary bytes as packets
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "pipe/crypto.hpp"
#include "pipe/handshake.hpp"

using namespace moat::pipe;

namespace {

const dh_group& group() {
    static const dh_group g;
    return g;
}

const secret32& key() {
    static const secret32 k = [] {
        secret32 s;
        s.bytes.fill(0x6b);
        return s;
    }();
    return k;
}

void run_jobs(handshake& h) {
    static bn_ctx_ptr ctx(BN_CTX_new());
    while (auto job = h.take_job()) {
        job->run(ctx.get());
        h.complete_job(job);
    }
}

void fuzz_handshake(const std::uint8_t* d, std::size_t n) {
    if (n < 1) return;
    std::uint8_t flags = d[0];
    std::array<std::uint8_t, 32> nonce{};
    // DH keeps each run slow, so most inputs use -f.
    bool no_pfs = (flags & 6) != 6;
    handshake h(flags & 1 ? role::server : role::client, key(), group(), no_pfs, flags & 8, nonce);
    std::size_t off = 1;
    while (off < n && h.status() == handshake::state::running) {
        std::size_t chunk = std::min<std::size_t>(n - off, 1 + d[off] % 97);
        std::size_t used = h.feed({d + off, chunk});
        run_jobs(h);
        if (used == 0) break;
        off += used;
    }
}

void fuzz_transcript(const std::uint8_t* d, std::size_t n) {
    if (n < 4) return;
    std::size_t pos = (std::size_t(d[0]) << 8 | d[1]) % (2 * (32 + 288));
    std::uint8_t xr = d[2] ? d[2] : 1;
    std::array<std::uint8_t, 32> nc{}, ns{};
    std::memcpy(nc.data(), d + 3, std::min<std::size_t>(n - 3, 32));
    ns[0] = 1;
    handshake c(role::client, key(), group(), true, false, nc);
    handshake s(role::server, key(), group(), true, false, ns);
    // Byte `pos` of the whole transcript: first the client's 320, then the server's.
    std::size_t c_sent = 0, s_sent = 0;
    for (int round = 0; round < 8; ++round) {
        auto& co = c.output();
        for (std::size_t i = 0; i < co.size(); ++i)
            if (c_sent + i == pos) co[i] ^= xr;
        std::size_t u = s.feed(co);
        c_sent += u;
        co.erase(co.begin(), co.begin() + long(u));
        auto& so = s.output();
        for (std::size_t i = 0; i < so.size(); ++i)
            if (320 + s_sent + i == pos) so[i] ^= xr;
        u = c.feed(so);
        s_sent += u;
        so.erase(so.begin(), so.begin() + long(u));
    }
    if (c.status() == handshake::state::done && s.status() == handshake::state::done) abort();
}

direction_keys fixed_keys() {
    direction_keys k;
    k.cipher_key.bytes.fill(1);
    k.mac_key.bytes.fill(2);
    return k;
}

void fuzz_packets(const std::uint8_t* d, std::size_t n) {
    if (n < 2) return;
    std::size_t flips = d[0] % 4;
    if (n < 1 + 3 * flips) return;
    const std::uint8_t* payload = d + 1 + 3 * flips;
    std::size_t plen = n - 1 - 3 * flips;
    if (plen == 0) return;
    auto k = fixed_keys();
    packet_sealer sealer(k);
    std::vector<std::uint8_t> wire(packets_for(plen) * packet_size);
    if (sealer.seal_stream({payload, plen}, wire.data()) != long(wire.size())) abort();
    const std::vector<std::uint8_t> sent = wire;
    for (std::size_t f = 0; f < flips; ++f) {
        std::size_t at = (std::size_t(d[1 + 3 * f]) << 8 | d[2 + 3 * f]) % wire.size();
        wire[at] ^= d[3 + 3 * f] ? d[3 + 3 * f] : 0x80;
    }
    std::vector<bool> touched(wire.size() / packet_size, false);
    for (std::size_t i = 0; i < touched.size(); ++i) {
        // Two flips of one byte can cancel out: compare what really changed.
        touched[i] = std::memcmp(&wire[i * packet_size], &sent[i * packet_size], packet_size) != 0;
    }
    packet_opener opener(k);
    std::vector<std::uint8_t> out(block_size);
    for (std::size_t i = 0; i < touched.size(); ++i) {
        std::size_t len = 0;
        bool ok = opener.open(wire.data() + i * packet_size, out.data(), &len);
        if (touched[i] && ok) abort();  // a changed packet was accepted
        if (!ok) return;                // the connection would end here
        std::size_t want = std::min(max_payload, plen - i * max_payload);
        if (len != want || std::memcmp(out.data(), payload + i * max_payload, len) != 0) abort();
    }
}

void fuzz_raw_packets(const std::uint8_t* d, std::size_t n) {
    packet_opener opener(fixed_keys());
    std::vector<std::uint8_t> out(block_size);
    for (std::size_t off = 0; off + packet_size <= n; off += packet_size) {
        std::size_t len = 0;
        if (!opener.open(d + off, out.data(), &len)) return;
        if (len == 0 || len > max_payload) abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 4) {
    case 0: fuzz_handshake(data + 1, size - 1); break;
    case 1: fuzz_transcript(data + 1, size - 1); break;
    case 2: fuzz_packets(data + 1, size - 1); break;
    default: fuzz_raw_packets(data + 1, size - 1); break;
    }
    return 0;
}
