// The runner's port forwarding thread (forwarder.hpp).
#include "tunnel/forwarder.hpp"

#include "firewall/firewall.hpp"
#include "sys/error.hpp"
#include "tunnel/natpmp.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace moat::tunnel {

namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// RFC 6886 3.1 tries 9 times over 64 s; the runner tries 3 (1.75 s) and
// comes back with its own back-off, so that a lost gateway is reported
// early and the thread stays responsive to reconnects.
constexpr unsigned attempts = 3;

struct mapped {
    std::uint16_t port = 0;  // the public port: what the file says, where the container listens
    std::uint32_t lifetime = 0;
    std::vector<firewall::forwarded_port> rules;
};

mapped map_all(const plan::tunnel_plan& t, const sys::ip_address& source) {
    const auto& f = *t.forwarding;
    natpmp::endpoint at{t.device, source, f.gateway};
    mapped out;
    for (auto [on, proto, name] : {std::tuple{f.tcp, natpmp::protocol::tcp, "tcp"},
                                   std::tuple{f.udp, natpmp::protocol::udp, "udp"}}) {
        if (!on) {
            continue;
        }
        // Proton's documented request (internal 0, public 1), or the RFC's
        // own shape for the port asked with requestPort.
        natpmp::mapping_request r{proto, f.request_port, f.request_port ? f.request_port : std::uint16_t{1}, f.lifetime};
        auto a = natpmp::map(at, r, attempts);
        if (out.port != 0 && a.public_port != out.port) {
            std::fprintf(stderr, "moat: tunnel %s: the gateway forwards %s port %u, not %u as for tcp; the file names %u\n",
                         t.name.c_str(), name, a.public_port, out.port, out.port);
        }
        if (out.port == 0) {
            out.port = a.public_port;
        }
        out.lifetime = out.lifetime == 0 ? a.lifetime : std::min(out.lifetime, a.lifetime);
        // The server sends what arrives for the public port to the internal
        // port it answers (Proton: 0, meaning the same port).
        std::uint16_t arrives = a.internal_port ? a.internal_port : a.public_port;
        out.rules.push_back({name, arrives, a.public_port});
    }
    return out;
}

void write_port_file(const plan::forwarding_plan& f, std::uint16_t port) {
    const std::string file = f.host_dir + "/" + plan::forwarded_port_file;
    const std::string tmp = f.host_dir + "/." + plan::forwarded_port_file + ".new";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << port << "\n";
        if (!out.flush()) {
            throw moat::error("writing " + tmp);
        }
    }
    ::chmod(tmp.c_str(), 0644);
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        throw sys::errno_error("renaming " + tmp + " to " + file);
    }
}

void set_rules(const plan::tunnel_plan& t, const std::vector<firewall::forwarded_port>& rules) {
    firewall::context nft;
    nft.run(firewall::forwarding_update(t.forwarding->container, rules));
}

// An `up` that committed the table made the map and set empty again (the
// table is replaced whole, firewall.hpp): puts the rules back when their
// set has no elements. Quiet while the table is absent (`up` or `down` at
// work): the next look tries again.
void keep_rules(const plan::tunnel_plan& t, const std::vector<firewall::forwarded_port>& rules) {
    try {
        firewall::context nft;
        auto listing = nft.run(std::string("list set ") + firewall::table_family + " " + firewall::table_name + " " +
                               firewall::forwarding_set(t.forwarding->container));
        if (listing.find("elements") == std::string::npos) {
            nft.run(firewall::forwarding_update(t.forwarding->container, rules));
            std::fprintf(stderr, "moat: tunnel %s: forwarded port back in table inet moat (it was replaced)\n",
                         t.name.c_str());
        }
    } catch (const std::exception&) {
    }
}

// What the thread holds between its wake-ups.
struct lease {
    unsigned tried = 0;  // the generation (tunnel up) last tried
    unsigned done = 0;   // the generation last mapped
    std::uint16_t port = 0;  // 0: none held
    std::vector<firewall::forwarded_port> rules;  // in the table while `port` is held
    clock::time_point due = clock::time_point::max(), expires = clock::time_point::max();
    std::chrono::seconds backoff = 5s;
};

void expire(const plan::tunnel_plan& t, lease& held) {
    std::fprintf(stderr, "moat: tunnel %s: forwarded port %u expired without renewal\n", t.name.c_str(), held.port);
    // The next try stays where the back-off put it: the tunnel may be up
    // with a gateway that does not answer.
    held.port = 0;
    held.rules.clear();
    held.expires = clock::time_point::max();
    try {
        ::unlink((t.forwarding->host_dir + "/" + plan::forwarded_port_file).c_str());
        set_rules(t, {});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: tunnel %s: port forwarding: %s\n", t.name.c_str(), e.what());
    }
}

// Maps (or renews); the file is written, and so the hook runs, only for
// the first mapping after the tunnel came up or a new port.
void attempt(const plan::tunnel_plan& t, lease& held, unsigned generation, const sys::ip_address& source) {
    const auto& f = *t.forwarding;
    held.tried = generation;  // after a failure the back-off decides the next try
    try {
        auto m = map_all(t, source);
        set_rules(t, m.rules);
        if (generation != held.done || m.port != held.port) {
            write_port_file(f, m.port);
            std::fprintf(stderr, "moat: tunnel %s: forwarded port %u%s%s to container %s (lifetime %u s)\n",
                         t.name.c_str(), m.port, f.tcp ? " tcp" : "", f.udp ? " udp" : "", f.container.c_str(),
                         m.lifetime);
        }
        held.port = m.port;
        held.rules = m.rules;
        held.done = generation;
        held.due = clock::now() + std::chrono::seconds(std::max<std::uint32_t>(m.lifetime / 2, 1));
        held.expires = clock::now() + std::chrono::seconds(m.lifetime);
        held.backoff = 5s;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: tunnel %s: port forwarding: %s; trying again in %lld s\n", t.name.c_str(), e.what(),
                     static_cast<long long>(held.backoff.count()));
        held.due = clock::now() + held.backoff;
        held.backoff = std::min<std::chrono::seconds>(held.backoff * 2, 60s);
    }
}

}  // namespace

forwarder::forwarder(const plan::tunnel_plan& t) : _t(t) {
    if (_t.forwarding) {
        _thread = std::thread([this] { run(); });
    }
}

forwarder::~forwarder() {
    if (_thread.joinable()) {
        {
            std::lock_guard lock(_mutex);
            _stop = true;
        }
        _wake.notify_all();
        _thread.join();
    }
}

void forwarder::update(int index, const std::vector<sys::ip_address>& addresses) {
    if (!_thread.joinable()) {
        return;
    }
    std::optional<sys::ip_address> v4;
    for (const auto& a : addresses) {
        if (a.is_v4()) {
            v4 = a;
            break;
        }
    }
    std::lock_guard lock(_mutex);
    if (v4 && (!_address || index != _index || *v4 != *_address)) {
        ++_generation;  // up, again: map at once
        _wake.notify_all();
    }
    _index = index;
    _address = v4;
}

void forwarder::run() {
    lease held;
    std::unique_lock lock(_mutex);
    while (!_stop) {
        // While a port is held, a look every 2 s at the table (keep_rules).
        auto until = std::min({held.due, held.expires, clock::now() + (held.port ? 2s : 1h)});
        bool woken = _wake.wait_until(lock, until, [&] {
            return _stop || (_address && _generation != held.tried) ||
                   clock::now() >= std::min(held.due, held.expires);
        });
        if (_stop) {
            break;
        }
        if (!woken && !held.port) {
            continue;
        }
        unsigned generation = _generation;
        auto source = _address;
        lock.unlock();
        if (!woken) {
            keep_rules(_t, held.rules);
        } else if (clock::now() >= held.expires) {
            expire(_t, held);
        } else if (!source) {
            held.due = clock::time_point::max();  // down: map again when it is up
        } else {
            attempt(_t, held, generation, *source);
        }
        lock.lock();
    }
}

}  // namespace moat::tunnel
