// WireGuard: the runner's side of wireguard-go. The device and the UAPI
// socket are the runner's, handed over as inherited descriptors
// (wireguard-go's main.go: WG_TUN_FD, WG_UAPI_FD); the configuration goes
// over the cross-platform userspace API (wireguard.com/xplatform): text
// key=value lines over that unix socket, keys as lowercase hex.
#include "tunnel/driver.hpp"
#include "tunnel/health.hpp"
#include "tunnel/tun_device.hpp"
#include "tunnel/tunnel.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/hash.hpp"
#include "sys/unique_fd.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <openssl/evp.h>
#include <linux/if_tun.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace moat::tunnel {

namespace {

std::string key_hex(const std::string& base64, const char* what) {
    unsigned char raw[48];
    if (base64.size() != 44 || EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(base64.data()), 44) != 33) {
        throw moat::error(std::string(what) + " is not a base64 WireGuard key");
    }
    std::string hex = sys::to_hex(std::span<const unsigned char>(raw, 32));
    OPENSSL_cleanse(raw, sizeof raw);
    return hex;
}

// "host:port" or "[v6]:port" to a numeric endpoint the UAPI accepts.
std::string resolve_endpoint(const std::string& endpoint) {
    auto colon = endpoint.rfind(':');
    if (colon == std::string::npos) {
        throw moat::error("endpoint " + endpoint + " has no port");
    }
    std::string host = endpoint.substr(0, colon), port = endpoint.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        throw moat::error("resolving endpoint " + endpoint + ": " + ::gai_strerror(rc));
    }
    char buf[INET6_ADDRSTRLEN];
    const void* addr = res->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
                                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
    ::inet_ntop(res->ai_family, addr, buf, sizeof buf);
    bool v6 = res->ai_family == AF_INET6;
    ::freeaddrinfo(res);
    return v6 ? "[" + std::string(buf) + "]:" + port : std::string(buf) + ":" + port;
}

// Where wireguard-go 0.0.20220316 looks for its UAPI socket (ipc/uapi_unix.go,
// compiled in): even with WG_UAPI_FD it watches that path with inotify and
// exits when the watch cannot be set or the file goes. /var/run is
// `_tunnels`' own tmpfs, so the directory is private to moat's runners.
const std::string socket_dir = "/var/run/wireguard";

class wireguard final : public driver {
public:
    wireguard(const plan::tunnel_plan& t, netlink::socket& nl)
        : _t(t), _nl(nl), _wg(plan::parse_wg_quick(sys::read_file(t.config_path), t.config_path)),
          _socket(uapi_socket_path(t.device)) {
        // Hostname endpoints were resolved at `up` (plan/tunnel_checks.hpp):
        // no DNS here unless the host could not resolve them then.
        for (auto& p : _wg.peers) {
            if (auto it = t.endpoints.find(p.endpoint); it != t.endpoints.end()) {
                p.endpoint = it->second;
            }
            // WireGuard handshakes only when it has something to send, so
            // a peer without PersistentKeepalive would stay silent until
            // a confined container sends, and `up` could not know the
            // tunnel works. wireguard-go sends a keepalive (a handshake)
            // when the device comes up for each peer with an interval
            // (device.go upLocked): one is set until the first handshake,
            // then put back to the file's "off" (tick()).
            if (p.keepalive == 0 && !p.endpoint.empty()) {
                p.keepalive = first_handshake_keepalive;
                _kick.push_back(key_hex(p.public_key, "PublicKey"));
            }
        }
        // Without IFF_NO_PI: wireguard-go's own CreateTUN asks for the
        // packet-information header, and CreateTUNFromFile assumes it.
        _tun = create_tun(t.device, IFF_TUN);
        nl.set_mtu(t.device, _wg.mtu.value_or(1420));  // wireguard-go's DefaultMTU
        sys::make_dirs(socket_dir, 0755);
        _uapi = listen_unix(_socket, daemon_identity_for(t));
    }

    daemon_spec spec() const override {
        daemon_spec s;
        s.argv = daemon_argv(_t);
        s.env = {"WG_TUN_FD=3", "WG_UAPI_FD=4"};
        s.fds = {_tun.get(), _uapi.get()};
        s.who = daemon_identity_for(_t);
        s.fake_set_mtu = true;
        return s;
    }

    void started(pid_t) override {
        // The daemon holds the only descriptor of the device now, so the
        // kernel removes the device, and every route through it, when the
        // daemon dies.
        _tun.reset();
        _uapi.reset();
        // The socket listened before the daemon started: the request waits
        // in it until wireguard-go accepts.
        uapi_send(_socket, uapi_set_request(_wg));
        for (const auto& a : _wg.addresses) {
            _nl.add_address(_t.device, a);
        }
        _nl.set_up(_t.device);
    }

    // The peers given a keepalive for their first handshake get the
    // file's "off" back once they have one.
    void tick() override {
        if (_kick.empty() || std::chrono::steady_clock::now() < _next_look) {
            return;
        }
        _next_look = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        try {
            for (const auto& peer : parse_uapi_get(uapi_get(_socket))) {
                auto it = std::find(_kick.begin(), _kick.end(), peer.public_key);
                if (it != _kick.end() && peer.last_handshake > 0) {
                    uapi_send(_socket, "set=1\npublic_key=" + peer.public_key + "\npersistent_keepalive_interval=0\n\n");
                    _kick.erase(it);
                }
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: tunnel %s: putting PersistentKeepalive back to off: %s\n", _t.name.c_str(),
                         e.what());
            _kick.clear();  // told once; a keepalive stays, which costs a packet per 25 s
        }
    }

private:
    static constexpr int first_handshake_keepalive = 25;
    const plan::tunnel_plan& _t;
    netlink::socket& _nl;
    plan::wg_config _wg;
    std::string _socket;
    sys::unique_fd _tun, _uapi;
    std::vector<std::string> _kick;  // public keys (hex) whose keepalive goes back to off
    std::chrono::steady_clock::time_point _next_look{};
};

}  // namespace

std::string uapi_socket_path(const std::string& device) { return socket_dir + "/" + device + ".sock"; }

std::unique_ptr<driver> wireguard_driver(const plan::tunnel_plan& t, netlink::socket& nl) {
    return std::make_unique<wireguard>(t, nl);
}

std::string uapi_set_request(const plan::wg_config& c) {
    std::string r = "set=1\nprivate_key=" + key_hex(c.private_key, "PrivateKey") + "\n";
    if (c.listen_port) {
        r += "listen_port=" + std::to_string(*c.listen_port) + "\n";
    }
    r += "replace_peers=true\n";
    for (const auto& p : c.peers) {
        r += "public_key=" + key_hex(p.public_key, "PublicKey") + "\n";
        if (!p.preshared_key.empty()) {
            r += "preshared_key=" + key_hex(p.preshared_key, "PresharedKey") + "\n";
        }
        if (!p.endpoint.empty()) {
            r += "endpoint=" + resolve_endpoint(p.endpoint) + "\n";
        }
        r += "persistent_keepalive_interval=" + std::to_string(p.keepalive) + "\nreplace_allowed_ips=true\n";
        for (const auto& a : p.allowed_ips) {
            r += "allowed_ip=" + a.network().str() + "\n";
        }
    }
    return r + "\n";
}

std::string uapi_exchange(const std::string& socket_path, const std::string& request, std::chrono::milliseconds limit) {
    sys::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (!fd || socket_path.size() >= sizeof sa.sun_path) {
        throw sys::errno_error("opening a socket for " + socket_path);
    }
    std::memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
    sys::check(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), "connecting to " + socket_path);
    sys::write_all(fd.get(), request, "talking to wireguard-go");
    std::string answer;
    char buf[4096];
    // An answer ends with an empty line. A daemon that does not end it in
    // time is a failure, not a hung caller, and it may not fill the
    // caller's memory either (a peer is a few hundred bytes).
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (answer.find("\n\n") == std::string::npos && answer.size() < 65536) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd.get(), POLLIN, 0};
        int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (ready == 0) {
            throw moat::error("wireguard-go did not answer its UAPI request within " + std::to_string(limit.count()) +
                              " ms");
        }
        ssize_t n = ready < 0 ? -1 : ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw sys::errno_error("waiting for wireguard-go's answer");
        }
        if (n == 0) {
            break;
        }
        answer.append(buf, static_cast<std::size_t>(n));
    }
    if (answer.empty()) {
        throw moat::error("wireguard-go closed its UAPI socket without answering");
    }
    return answer;
}

void uapi_send(const std::string& socket_path, const std::string& request) {
    auto answer = uapi_exchange(socket_path, request, std::chrono::seconds(10));
    if (answer.rfind("errno=0\n", 0) != 0) {
        throw moat::error("wireguard-go refused the configuration: " + answer.substr(0, answer.find('\n')));
    }
}

}  // namespace moat::tunnel
