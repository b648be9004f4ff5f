#include "plan/tunnel_checks.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "tunnel/ovpn_file.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>

namespace moat::plan {

namespace {

struct addrinfo_list {
    addrinfo* head = nullptr;
    ~addrinfo_list() {
        if (head) {
            ::freeaddrinfo(head);
        }
    }
};

sys::ip_address to_address(const addrinfo* ai) {
    char buf[INET6_ADDRSTRLEN];
    const void* raw = ai->ai_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr);
    ::inet_ntop(ai->ai_family, raw, buf, sizeof buf);
    return sys::ip_address::parse(buf).value();
}

// "host:port" / "[v6]:port" split (the parser checked the form).
std::pair<std::string, std::string> split_endpoint(const std::string& endpoint) {
    auto colon = endpoint.rfind(':');
    std::string host = endpoint.substr(0, colon), port = endpoint.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return {host, port};
}

bool valid_port(const std::string& p) {
    return !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos &&
           std::stoi(p) >= 1 && std::stoi(p) <= 65535;
}

// Why the host or moat already uses `a` ("" if nothing does).
// The tunnel's own device (up since an earlier `up`) is not a clash.
std::string clash(const sys::ip_prefix& a, const std::string& device, const host_context& ctx,
                  const std::vector<network_plan>& networks, const std::vector<container_plan>& plans) {
    for (const auto& h : ctx.addresses) {
        if (h.link != device && h.address.address == a.address) {
            return "the host's own address on " + h.link;
        }
    }
    for (const auto& r : ctx.routes) {
        if (r.link != device && r.destination.length > 0 && r.destination.network().contains(a.address)) {
            return "the host reaches it through " + r.link + " (" + r.text + ")";
        }
    }
    for (const auto& n : networks) {
        for (const auto& g : {std::optional<sys::ip_prefix>(n.gateway), n.gateway6}) {
            if (g && g->network().overlaps(a.network())) {
                return "in moat's network " + n.name + " (" + g->network().str() + ")";
            }
        }
    }
    for (const auto& p : plans) {
        for (const auto* pair : {&p.v4, &p.v6}) {
            if (*pair && ((*pair)->local.network().overlaps(a.network()) || (*pair)->host.address == a.address)) {
                return "container " + p.name + "'s address (" + (*pair)->local.str() + ")";
            }
        }
    }
    return "";
}

}  // namespace

lookup resolve_udp(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo_list res;
    int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res.head);
    if (rc != 0 || !res.head) {
        bool none = rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL;
        return {none ? lookup_status::no_such_name : lookup_status::unavailable, "", ::gai_strerror(rc)};
    }
    std::vector<sys::ip_address> all;
    for (const addrinfo* ai = res.head; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            all.push_back(to_address(ai));
        }
    }
    if (all.empty()) {
        return {lookup_status::no_such_name, "", "no IPv4 or IPv6 address"};
    }
    // IPv4 first (AF_INET sorts below AF_INET6): a host without IPv6 still connects.
    auto lowest = *std::min_element(all.begin(), all.end());
    return {lookup_status::ok, lowest.is_v6() ? "[" + lowest.str() + "]:" + port : lowest.str() + ":" + port, ""};
}

void resolve_wg_endpoints(const wg_config& c, tunnel_plan& t, std::vector<std::string>& notes) {
    for (const auto& p : c.peers) {
        if (p.endpoint.empty()) {
            continue;
        }
        auto [host, port] = split_endpoint(p.endpoint);
        if (sys::ip_address::parse(host)) {
            continue;  // numeric already
        }
        auto r = resolve_udp(host, port);
        const std::string at = t.config_path + ":" + std::to_string(p.endpoint_line) + ": Endpoint " + p.endpoint;
        if (r.status == lookup_status::no_such_name) {
            throw usage_error(at + ": " + host + " does not resolve (" + r.error + ")");
        }
        if (r.status == lookup_status::unavailable) {
            notes.push_back(at + ": cannot resolve " + host + " now (" + r.error +
                            "); the tunnel's runner tries again at each start");
            continue;
        }
        t.endpoints[p.endpoint] = r.endpoint;
    }
}

void check_ovpn_remotes(const std::string& text, const std::string& file, std::vector<std::string>& notes) {
    int remotes = 0, missing = 0;
    std::string last_missing;
    // The lines openvpn reads as options (a first line after a byte order
    // mark, `--remote`, `setenv opt remote`, those in <connection> blocks),
    // and no line of an inline block's data.
    std::vector<tunnel::ovpn_option_line> options;
    try {
        options = tunnel::ovpn_options(text, file);
    } catch (const moat::error& e) {
        throw usage_error(e.what());  // the file's error, as the sanitiser's refusals are
    }
    for (const auto& o : options) {
        const auto& w = o.words;
        const std::string at = file + ":" + std::to_string(o.number) + ": ";
        if ((o.option == "port" || o.option == "rport") && w.size() > 1 && !valid_port(w[1])) {
            throw usage_error(at + o.option + " " + w[1] + ": not a port from 1 to 65535");
        }
        if (o.option != "remote" || w.size() < 2) {
            continue;
        }
        if (w.size() > 2 && !valid_port(w[2])) {
            throw usage_error(at + "remote " + w[1] + " " + w[2] + ": " + w[2] + " is not a port from 1 to 65535");
        }
        ++remotes;
        if (sys::ip_address::parse(w[1])) {
            continue;
        }
        auto r = resolve_udp(w[1], w.size() > 2 ? w[2] : "1194");
        if (r.status == lookup_status::no_such_name) {
            ++missing;
            last_missing = at + "remote " + w[1] + ": does not resolve (" + r.error + ")";
        } else if (r.status == lookup_status::unavailable) {
            notes.push_back(at + "remote " + w[1] + ": cannot resolve it now (" + r.error + "); openvpn tries again");
        }
    }
    if (remotes > 0 && missing == remotes) {
        throw usage_error(last_missing + (remotes > 1 ? ", nor does any other remote" : ""));
    }
}

void check_tunnel_addresses(const std::vector<tunnel_plan>& tunnels, const host_context& ctx,
                            const std::vector<network_plan>& networks, const std::vector<container_plan>& plans) {
    for (const auto& t : tunnels) {
        if (t.type != "wireguard") {
            continue;
        }
        auto c = parse_wg_quick(sys::read_file(t.config_path), t.config_path);
        for (std::size_t k = 0; k < c.addresses.size(); ++k) {
            if (auto why = clash(c.addresses[k], t.device, ctx, networks, plans); !why.empty()) {
                throw usage_error(t.config_path + ":" + std::to_string(c.address_lines[k]) + ": Address " +
                                  c.addresses[k].str() + " is " + why + "; the tunnel would take that traffic");
            }
        }
    }
}

}  // namespace moat::plan
