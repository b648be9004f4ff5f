// OpenVPN: the runner's side of an unprivileged openvpn.
//
// Before the daemon starts, the runner (root) prepares everything openvpn
// would otherwise need privileges for: a private directory (root-owned,
// group = the daemon's gid, 0750) with the sanitised config and copies of
// the files it names and the auth file written from the tunnel's
// credentials keys (owned by the daemon, 0600; ovpn_file.hpp); a clone
// node /dev/net/<device> the daemon may open; the persistent device itself,
// owned by the daemon's uid and gid; and a listening management socket.
// openvpn opens the device, leaves it unconfigured (--ifconfig-noexec,
// --route-noexec) and connects to that socket (--management-client: a lost
// connection makes it exit). The runner asks for state notifications and
// follows them: CONNECTED puts the tunnel's own addresses from the state
// line on the device (/32, /128: moat routes by device) and brings it up —
// runner.cpp's keep_routes() then adds the default route and the address
// rules; RECONNECTING and EXITING take it down and remove the addresses,
// so the tunnel's table falls back to its `unreachable` default at once.
//
// What comes over that socket comes from the daemon, which moat does not
// trust: lines are bounded, and an address is refused (the tunnel stays
// down) when the host already has it or reaches it through another link,
// or it is not an ordinary unicast address — the runner would otherwise
// route the host's packets from it into the tunnel (the rule for the
// tunnel's own address), a way for a compromised daemon to pull the host's
// or a container's traffic to itself.
#include "tunnel/driver.hpp"
#include "tunnel/health.hpp"
#include "tunnel/ovpn_file.hpp"
#include "tunnel/tun_device.hpp"
#include "tunnel/tunnel.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <linux/if_tun.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace moat::tunnel {

namespace {

void hand_over(const std::string& path, const daemon_identity& who, mode_t mode) {
    sys::check(::chown(path.c_str(), who.uid, who.gid), "handing " + path + " to the daemon");
    sys::check(::chmod(path.c_str(), mode), "setting the mode of " + path);
}

// openvpn's auth file from the tunnel's keys, read now: the planner
// checked the files at `up`, and an edit since is a change `up` applies.
std::string credentials_text(const plan::tunnel_plan& t) {
    const std::string& path = t.credentials_file.empty() ? t.password_file : t.credentials_file;
    try {
        std::string text = sys::read_file(path);
        return t.credentials_file.empty() ? ovpn_auth_from_password(t.username, text) : ovpn_auth_from_credentials(text);
    } catch (const std::exception& e) {
        throw moat::error("tunnel " + t.name + ": credentials from " + path + ": " + e.what());
    }
}

// The daemon's directory, rebuilt on every start (a runner killed with -9
// leaves its copies behind until then; the tmpfs goes with `_tunnels`).
ovpn_config prepare_directory(const plan::tunnel_plan& t, const daemon_identity& who) {
    const std::string dir = private_dir(t);
    sys::remove_tree(dir);
    sys::make_dirs(dir.substr(0, dir.rfind('/')), 0755);
    sys::check(::mkdir(dir.c_str(), 0750), "creating " + dir);
    sys::check(::chown(dir.c_str(), 0, who.gid), "handing " + dir + " to the daemon's group");
    const bool credentials = !t.password_file.empty() || !t.credentials_file.empty();
    auto config = sanitize_ovpn(sys::read_file(t.config_path), t.config_path, dir, credentials);
    for (const auto& n : config.notices) {
        std::string at = n.line > 0 ? ":" + std::to_string(n.line) : "";
        std::fprintf(stderr, "moat: tunnel %s: %s%s: %s\n", t.name.c_str(), t.config_path.c_str(), at.c_str(),
                     n.text.c_str());
    }
    if (!config.auth_file.empty()) {
        sys::write_file_atomic(config.auth_file, credentials_text(t), 0600, false);
        hand_over(config.auth_file, who, 0600);
    }
    for (const auto& f : config.files) {
        std::string content;
        try {
            content = sys::read_file(f.source);
            if (f.option == "auth-user-pass") {
                // Its two lines as openvpn reads them, less a byte order mark
                // (Notepad's), which openvpn would send as part of the username.
                content = ovpn_auth_from_credentials(content);
            }
        } catch (const std::exception& e) {
            throw moat::error(t.config_path + ":" + std::to_string(f.line) + ": " + f.option + ": " + e.what());
        }
        sys::write_file_atomic(f.copy, content, 0600, false);
        hand_over(f.copy, who, 0600);
    }
    sys::write_file_atomic(dir + "/config.ovpn", config.text, 0600, false);
    hand_over(dir + "/config.ovpn", who, 0600);
    return config;
}

// Why `a` cannot be the tunnel's own address ("" if it can).
std::string refusal(netlink::socket& nl, const sys::ip_address& a, const std::string& device) {
    for (const char* special : {"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3", "::/127", "fe80::/10",
                                "ff00::/8", "::ffff:0:0/96"}) {
        if (sys::ip_prefix::parse(special)->contains(a)) {
            return "not an ordinary unicast address (" + std::string(special) + ")";
        }
    }
    for (const auto& mine : nl.addresses()) {
        if (mine.ifname != device && mine.local.address == a) {
            return "the host's own address on " + mine.ifname;
        }
    }
    for (const auto& r : nl.routes(netlink::table_main, a.family)) {
        if (r.destination && r.destination->length > 0 && !r.gateway && r.dev != device &&
            r.destination->network().contains(a)) {
            return "the host reaches it through " + r.dev + " (" + r.destination->network().str() + ")";
        }
    }
    return "";
}

// A line longer than this is not OpenVPN's management protocol.
constexpr std::size_t max_line = 16384;

class openvpn final : public driver {
public:
    openvpn(const plan::tunnel_plan& t, netlink::socket& nl) : _t(t), _nl(nl), _who(daemon_identity_for(t)) {
        auto config = prepare_directory(t, _who);
        make_clone_node(node(), _who);
        // openvpn asks for IFF_TUN | IFF_NO_PI; attaching sets the flags anyway.
        auto fd = create_tun(t.device, IFF_TUN | IFF_NO_PI);
        persist_for(fd.get(), _who);
        nl.set_mtu(t.device, config.tun_mtu.value_or(1500));  // openvpn's default tun-mtu
        _listener = listen_unix(private_dir(t) + "/management.sock", _who);
    }

    ~openvpn() override {
        // The keys' copies do not outlive the runner that made them.
        ::unlink(node().c_str());
        try {
            sys::remove_tree(private_dir(_t));
        } catch (const std::exception&) {
        }
    }

    daemon_spec spec() const override {
        daemon_spec s;
        s.argv = daemon_argv(_t);
        s.cwd = private_dir(_t);
        s.who = _who;
        return s;
    }

    void started(pid_t) override {}

    int fd() const override { return _conn ? _conn.get() : _listener.get(); }

    void on_readable() override {
        if (!_conn) {
            _conn.reset(::accept4(_listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (_conn) {
                _listener.reset();  // one client: the daemon
                // bytecount: when the server last sent anything (health.hpp).
                sys::write_all(_conn.get(), "state on\nstate\nbytecount 1\n", "asking openvpn for its state");
            }
            return;
        }
        char buf[4096];
        ssize_t n = ::read(_conn.get(), buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            _conn.reset();  // openvpn is leaving; its death is the loop's business
            take_down("management connection closed");
            return;
        }
        _pending.append(buf, static_cast<std::size_t>(n));
        for (auto nl = _pending.find('\n'); nl != std::string::npos; nl = _pending.find('\n')) {
            std::string line = _pending.substr(0, nl);
            _pending.erase(0, nl + 1);
            if (auto st = parse_ovpn_state(line)) {
                follow(*st);
            } else if (auto bytes = parse_ovpn_bytecount(line)) {
                received(bytes->first, bytes->second);
            }
        }
        if (_pending.size() > max_line) {
            // Closing makes openvpn exit (--management-client): a restart.
            _conn.reset();
            take_down("openvpn sent a management line longer than " + std::to_string(max_line) + " bytes");
        }
    }

private:
    std::string node() const { return "/dev/net/" + _t.device; }

    // The record `moat check` and `moat status` read (health.hpp). What
    // openvpn says is bounded to plain words before it is written.
    void record() {
        try {
            sys::write_file_atomic(ovpn_record_path(_t), format_ovpn_record(_record), 0600, false);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: tunnel %s: recording its state: %s\n", _t.name.c_str(), e.what());
        }
    }

    // Recorded whenever either count moves: heal.hpp tells a server that
    // stopped answering by bytes going out while none come in.
    void received(std::uint64_t in, std::uint64_t out) {
        bool more = in > _record.bytes_in, moved = in != _record.bytes_in || out != _record.bytes_out;
        _record.bytes_in = in;
        _record.bytes_out = out;
        if (more) {
            _record.last_received = std::time(nullptr);
        }
        if (moved) {
            record();
        }
    }

    void follow(const ovpn_state& st) {
        if (st.name != _record.state) {
            _record.state = st.name;
            _record.detail.clear();
            for (char c : st.detail.substr(0, 64)) {
                if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
                    _record.detail += c;
                }
            }
            _record.since = std::time(nullptr);
            // The TLS handshake that led to CONNECTED came from the server.
            if (st.name == "CONNECTED") {
                _record.last_received = _record.since;
            }
            record();
        }
        if (st.name == "CONNECTED") {
            bring_up(st);
        } else if (st.name == "RECONNECTING" || st.name == "EXITING") {
            take_down(st.name);
        }
    }

    // Exactly the state's addresses on the device (the previous
    // connection's go), then up.
    void bring_up(const ovpn_state& st) {
        std::vector<sys::ip_prefix> want;
        for (const auto& a : {st.local4, st.local6}) {
            if (!a) {
                continue;
            }
            if (auto why = refusal(_nl, *a, _t.device); !why.empty()) {
                take_down("openvpn reported " + a->str() + " as the tunnel's address, refused: " + why);
                return;
            }
            want.push_back({*a, a->max_prefix()});
        }
        if (want.empty()) {
            take_down("connected without an address");
            return;
        }
        auto have = _nl.addresses(_t.device);
        for (const auto& a : have) {
            if (a.scope == 0 && std::find(want.begin(), want.end(), a.local) == want.end()) {
                _nl.delete_address(_t.device, a.local);
            }
        }
        for (const auto& w : want) {
            if (std::none_of(have.begin(), have.end(), [&](const netlink::address_info& a) { return a.local == w; })) {
                _nl.add_address(_t.device, w);
            }
        }
        _nl.set_up(_t.device);
        std::string as;
        for (const auto& w : want) {
            as += (as.empty() ? "" : " and ") + w.address.str();
        }
        std::fprintf(stderr, "moat: tunnel %s: connected as %s\n", _t.name.c_str(), as.c_str());
    }

    // Down first: the kernel drops every route through the device with it.
    void take_down(const std::string& why) {
        if (!_nl.link(_t.device)) {
            return;
        }
        _nl.set_down(_t.device);
        for (const auto& a : _nl.addresses(_t.device)) {
            if (a.scope == 0) {
                _nl.delete_address(_t.device, a.local);
            }
        }
        std::fprintf(stderr, "moat: tunnel %s: %s: %s down\n", _t.name.c_str(), why.c_str(), _t.device.c_str());
    }

    const plan::tunnel_plan& _t;
    netlink::socket& _nl;
    daemon_identity _who;
    sys::unique_fd _listener, _conn;
    std::string _pending;
    ovpn_record _record;
};

}  // namespace

std::unique_ptr<driver> openvpn_driver(const plan::tunnel_plan& t, netlink::socket& nl) {
    return std::make_unique<openvpn>(t, nl);
}

std::optional<ovpn_state> parse_ovpn_state(const std::string& line) {
    std::string body = line;
    if (!body.empty() && body.back() == '\r') {
        body.pop_back();
    }
    if (body.rfind(">STATE:", 0) == 0) {
        body.erase(0, 7);
    } else if (body.empty() || body[0] == '>' || !std::isdigit(static_cast<unsigned char>(body[0]))) {
        return std::nullopt;
    }
    std::vector<std::string> f;
    std::istringstream in(body);
    for (std::string field; std::getline(in, field, ',');) {
        f.push_back(field);
    }
    if (f.size() < 2 || f[1].empty() || f[0].find_first_not_of("0123456789") != std::string::npos ||
        f[1].find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != std::string::npos) {
        return std::nullopt;
    }
    ovpn_state st{f[1], f.size() > 2 ? f[2] : "", {}, {}};
    if (f.size() > 3 && !f[3].empty()) {
        st.local4 = sys::ip_address::parse(f[3]);
    }
    if (f.size() > 8 && !f[8].empty()) {
        st.local6 = sys::ip_address::parse(f[8]);
    }
    if ((st.local4 && !st.local4->is_v4()) || (st.local6 && !st.local6->is_v6())) {
        return std::nullopt;
    }
    return st;
}

}  // namespace moat::tunnel
