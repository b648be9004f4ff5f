// NAT-PMP messages and the client's exchange (natpmp.hpp has the theory).
#include "tunnel/natpmp.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace moat::tunnel::natpmp {

namespace {

constexpr std::uint8_t version = 0;
constexpr std::uint8_t answer_bit = 128;  // RFC 6886 3.2: answers carry opcode + 128

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    put16(out, static_cast<std::uint16_t>(v >> 16));
    put16(out, static_cast<std::uint16_t>(v));
}

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

std::uint32_t get32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(get16(p)) << 16 | get16(p + 2);
}

sockaddr_in v4(const sys::ip_address& a, std::uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, a.bytes.data(), 4);
    return sin;
}

// A UDP socket that can only use the tunnel: bound to its device and to
// its address (RFC 6886 3: the server maps for the request's source).
sys::unique_fd tunnel_socket(const endpoint& at) {
    if (!at.source.is_v4() || !at.gateway.is_v4()) {
        throw moat::error("NAT-PMP is IPv4 only (RFC 6886); the tunnel's address and the gateway must be IPv4");
    }
    sys::unique_fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw sys::errno_error("making a UDP socket for NAT-PMP");
    }
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, at.device.c_str(),
                     static_cast<socklen_t>(at.device.size())) != 0) {
        throw sys::errno_error("binding the NAT-PMP socket to " + at.device);
    }
    auto src = v4(at.source, 0);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        throw sys::errno_error("binding the NAT-PMP socket to " + at.source.str());
    }
    // connect(): the kernel then delivers only datagrams from the
    // gateway's port 5351 and reports its ICMP port unreachable as
    // ECONNREFUSED.
    auto dst = v4(at.gateway, server_port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        throw sys::errno_error("addressing the NAT-PMP gateway " + at.gateway.str() + " through " + at.device);
    }
    return fd;
}

}  // namespace

std::vector<std::uint8_t> encode_address_request() { return {version, 0}; }

std::vector<std::uint8_t> encode(const mapping_request& r) {
    std::vector<std::uint8_t> out{version, static_cast<std::uint8_t>(r.proto)};
    put16(out, 0);  // reserved
    put16(out, r.internal_port);
    put16(out, r.suggested_port);
    put32(out, r.lifetime);
    return out;
}

std::optional<address_answer> decode_address_answer(const std::uint8_t* data, std::size_t size) {
    if (size < 12 || data[0] != version || data[1] != answer_bit) {
        return std::nullopt;
    }
    address_answer a;
    a.result = get16(data + 2);
    a.epoch = get32(data + 4);
    a.address.family = AF_INET;
    std::memcpy(a.address.bytes.data(), data + 8, 4);
    return a;
}

std::optional<mapping_answer> decode_mapping_answer(const std::uint8_t* data, std::size_t size, protocol proto) {
    // A refusal may be only the 8-byte header (RFC 6886 3.5: "at least"
    // the result code); a success has all 16.
    if (size < 8 || data[0] != version || data[1] != (answer_bit | static_cast<std::uint8_t>(proto))) {
        return std::nullopt;
    }
    mapping_answer a;
    a.result = get16(data + 2);
    a.epoch = get32(data + 4);
    if (a.result == 0 && size < 16) {
        return std::nullopt;
    }
    if (size >= 16) {
        a.internal_port = get16(data + 8);
        a.public_port = get16(data + 10);
        a.lifetime = get32(data + 12);
    }
    return a;
}

std::string result_text(std::uint16_t result) {
    switch (result) {
    case 0: return "Success";
    case 1: return "Unsupported Version";
    case 2: return "Not Authorized/Refused";
    case 3: return "Network Failure";
    case 4: return "Out of resources";
    case 5: return "Unsupported opcode";
    default: return "result code " + std::to_string(result);
    }
}

std::chrono::milliseconds retry_delay(unsigned n) { return std::chrono::milliseconds(250LL << (n > 10 ? 10 : n)); }

std::vector<std::uint8_t> exchange(const endpoint& at, const std::vector<std::uint8_t>& request, unsigned attempts) {
    auto fd = tunnel_socket(at);
    const std::uint8_t opcode = request.at(1);
    for (unsigned n = 0; n < attempts; ++n) {
        if (::send(fd.get(), request.data(), request.size(), 0) < 0 && errno != ECONNREFUSED) {
            throw sys::errno_error("sending a NAT-PMP request to " + at.gateway.str() + " through " + at.device);
        }
        auto until = std::chrono::steady_clock::now() + retry_delay(n);
        for (auto left = retry_delay(n); left.count() > 0;
             left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                break;
            }
            std::uint8_t buf[64];
            ssize_t got = ::recv(fd.get(), buf, sizeof buf, 0);
            if (got < 0 && errno == ECONNREFUSED) {
                throw moat::error("the gateway " + at.gateway.str() + " refused NAT-PMP (ICMP port unreachable on " +
                                  std::to_string(server_port) + "): it does not serve port forwarding");
            }
            if (got >= 2 && buf[0] == version && buf[1] == (answer_bit | opcode)) {
                return {buf, buf + got};
            }
        }
    }
    unsigned long long waited = 0;
    for (unsigned n = 0; n < attempts; ++n) {
        waited += static_cast<unsigned long long>(retry_delay(n).count());
    }
    throw moat::error("no NAT-PMP answer from " + at.gateway.str() + " through " + at.device + " after " +
                      std::to_string(attempts) + " tries (" + std::to_string(waited) + " ms)");
}

mapping_answer map(const endpoint& at, const mapping_request& r, unsigned attempts) {
    auto bytes = exchange(at, encode(r), attempts);
    auto a = decode_mapping_answer(bytes.data(), bytes.size(), r.proto);
    const char* proto = r.proto == protocol::tcp ? "tcp" : "udp";
    if (!a) {
        throw moat::error(std::string("a malformed NAT-PMP answer (") + std::to_string(bytes.size()) + " bytes) to the " +
                          proto + " mapping request");
    }
    if (a->result != 0) {
        throw moat::error("the gateway " + at.gateway.str() + " refused the " + proto + " mapping (internal port " +
                          std::to_string(r.internal_port) + ", public port " + std::to_string(r.suggested_port) +
                          "): " + result_text(a->result));
    }
    if (a->public_port == 0 || a->lifetime == 0) {
        throw moat::error(std::string("the gateway granted no ") + proto + " port (public port " +
                          std::to_string(a->public_port) + ", lifetime " + std::to_string(a->lifetime) + ")");
    }
    return *a;
}

}  // namespace moat::tunnel::natpmp
