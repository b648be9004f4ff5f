#include "tunnel/ovpn_file.hpp"

#include "tunnel/ovpn_reader.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <cctype>
#include <filesystem>
#include <string_view>
#include <utility>

namespace moat::tunnel {

namespace {

constexpr const char* why_user = "the daemon already runs as an unprivileged user of its own";
constexpr const char* why_output = "the daemon's output goes to moat's log, and it stays in the foreground";
constexpr const char* why_management = "moat's tunnel runner owns the management interface";
constexpr const char* why_device = "moat creates the tunnel device and configures it";
constexpr const char* why_scripts = "moat never runs scripts or plugins from a tunnel's file";
constexpr const char* why_writes = "the daemon gets nowhere to write";
constexpr const char* why_mark = "SO_MARK needs CAP_NET_ADMIN, which the daemon does not have; moat routes by its own table";
constexpr const char* why_cd = "moat resolves the file's relative paths itself";
constexpr const char* why_routing =
    "moat routes the tunnel by its own table and never changes the host's (openvpn runs with --route-noexec)";
constexpr const char* why_dns = "a confined container's resolver is its `dns` key, never the tunnel file's";
constexpr const char* why_windows = "Windows only: openvpn on Linux refuses the whole file for it";
// Options OpenVPN 2.6 no longer knows (it refuses the whole file for them)
// that had no effect left: commenting them out changes nothing else.
constexpr const char* why_keysize =
    "OpenVPN 2.6 removed it and refuses the whole file for it; it only sized BF, CAST and RC2 keys, ciphers 2.6 "
    "no longer has";
constexpr const char* why_ncp_disable =
    "OpenVPN 2.6 removed it and refuses the whole file for it; the data cipher is always negotiated with the server";
constexpr const char* why_key_method =
    "OpenVPN 2.6 removed it and refuses the whole file for it; key method 2 is the only one since 2.5";
constexpr const char* why_no_iv =
    "OpenVPN 2.5 removed it (it did nothing since 2.4), and 2.6 refuses the whole file for it";

struct neutralised_option {
    std::string_view option;
    const char* why;
};

// `management*` is matched as a prefix below.
constexpr neutralised_option neutralised[] = {
    {"user", why_user}, {"group", why_user}, {"chroot", why_user}, {"setcon", why_user},
    {"daemon", why_output}, {"log", why_output}, {"log-append", why_output}, {"syslog", why_output},
    {"dev", why_device}, {"dev-node", why_device}, {"dev-type", why_device}, {"mktun", why_device},
    {"rmtun", why_device}, {"persist-tun", why_device}, {"iproute", why_device}, {"lladdr", why_device},
    {"txqueuelen", why_device},
    {"up", why_scripts}, {"down", why_scripts}, {"down-pre", why_scripts}, {"route-up", why_scripts},
    {"route-pre-down", why_scripts}, {"ipchange", why_scripts}, {"tls-verify", why_scripts},
    {"learn-address", why_scripts}, {"client-connect", why_scripts}, {"client-disconnect", why_scripts},
    {"auth-user-pass-verify", why_scripts}, {"tls-crypt-v2-verify", why_scripts}, {"plugin", why_scripts},
    {"script-security", why_scripts},
    {"writepid", why_writes}, {"status", why_writes}, {"replay-persist", why_writes},
    {"ifconfig-pool-persist", why_writes}, {"tmp-dir", why_writes},
    {"mark", why_mark},
    {"cd", why_cd},
    {"route", why_routing}, {"route-ipv6", why_routing}, {"redirect-gateway", why_routing},
    {"redirect-private", why_routing}, {"route-gateway", why_routing}, {"route-ipv6-gateway", why_routing},
    {"route-metric", why_routing}, {"route-delay", why_routing}, {"route-method", why_routing},
    {"block-ipv6", why_routing},
    {"dhcp-option", why_dns}, {"dns", why_dns},
    {"block-outside-dns", why_windows}, {"ip-win32", why_windows}, {"register-dns", why_windows},
    {"dhcp-renew", why_windows}, {"dhcp-release", why_windows}, {"dhcp-pre-release", why_windows},
    {"tap-sleep", why_windows}, {"win-sys", why_windows}, {"show-net-up", why_windows},
    {"allow-nonadmin", why_windows}, {"windows-driver", why_windows}, {"pause-exit", why_windows},
    {"service", why_windows}, {"msg-channel", why_windows},
    {"keysize", why_keysize}, {"ncp-disable", why_ncp_disable}, {"key-method", why_key_method}, {"no-iv", why_no_iv},
};

const char* neutralised_why(std::string_view option) {
    if (option.rfind("management", 0) == 0) {
        return why_management;
    }
    for (const auto& n : neutralised) {
        if (n.option == option) {
            return n.why;
        }
    }
    return nullptr;
}

// Which word (1-based, after the keyword) names a file, for options that
// take one; 0 for the others.
std::size_t file_argument(std::string_view option, const std::vector<std::string>& w) {
    for (std::string_view o : {"ca", "cert", "key", "tls-auth", "tls-crypt", "tls-crypt-v2", "pkcs12", "secret",
                               "dh", "crl-verify", "extra-certs", "http-proxy-user-pass", "auth-user-pass", "askpass"}) {
        if (option == o) {
            return w.size() > 1 ? 1 : 0;  // auth-user-pass and askpass without one ask the console
        }
    }
    if (option == "http-proxy" || option == "socks-proxy") {
        return w.size() > 3 ? 3 : 0;
    }
    return 0;
}

// The options openvpn 2.6 takes as an inline block (OPT_P_INLINE in
// options.c). Any other block is its fatal error ("not expected to be
// inline", or unknown): a block naming a forbidden option (<plugin>) would
// load nothing, but `up` would wait for a daemon that exits at every start.
bool takes_inline(std::string_view tag) {
    for (std::string_view o : {"ca", "cert", "extra-certs", "key", "pkcs12", "dh", "crl-verify", "tls-auth",
                               "tls-crypt", "tls-crypt-v2", "secret", "auth-user-pass", "http-proxy-user-pass",
                               "auth-gen-token-secret", "peer-fingerprint"}) {
        if (tag == o) {
            return true;
        }
    }
    return false;
}

// Words that stand for "no file" where a file may be named.
bool not_a_file(std::string_view option, const std::string& word) {
    return word == "[inline]" || word == "stdin" || (option == "dh" && word == "none") ||
           (option == "http-proxy" && (word == "auto" || word == "auto-nct"));
}

std::string quote(const std::string& word) {
    bool plain = !word.empty();
    for (char c : word) {
        plain = plain && !std::isspace(static_cast<unsigned char>(c)) && c != '"' && c != '\'' && c != '\\' &&
                c != '#' && c != ';';
    }
    if (plain) {
        return word;
    }
    std::string q = "\"";
    for (char c : word) {
        if (c == '"' || c == '\\') {
            q += '\\';
        }
        q += c;
    }
    return q + "\"";
}

// A copy's name: its index and the original's base name, in a safe alphabet.
std::string copy_name(std::size_t index, const std::string& source) {
    std::string base = std::filesystem::path(source).filename().string(), safe;
    for (char c : base) {
        safe += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ? c : '_';
    }
    return std::to_string(index) + "-" + (safe.empty() || safe[0] == '.' ? "file" + safe : safe);
}

std::string trimmed(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

class sanitizer {
public:
    sanitizer(const std::string& file, const std::string& private_dir, bool moat_credentials)
        : _file(file), _dir(private_dir), _base(std::filesystem::path(file).parent_path()),
          _credentials(moat_credentials) {}

    // The line as the daemon gets it.
    std::string line(int number, const std::string& raw) {
        _line = number;
        auto parsed = ovpn_option(raw, number, _file);
        const std::string& option = parsed.option;
        std::vector<std::string>& words = parsed.words;
        const std::string& prefix = parsed.prefix;
        if (option.empty()) {
            return raw;
        }
        refuse_directories(option, words);
        refuse_unusable(option, words);
        if (option == "cd" && words.size() > 1) {
            _base = resolve(words[1]);
        }
        if (const char* why = neutralised_why(option)) {
            std::string shown = trimmed(raw);
            _out.notices.push_back({number, "'" + shown + "' ignored: " + why});
            // Cut to what openvpn reads of a line: a longer one is its fatal error.
            return ("# moat: " + std::string(why) + ": " + shown).substr(0, ovpn_longest_line);
        }
        if (option == "tun-mtu" && words.size() > 1) {
            _out.tun_mtu = mtu(words[1]);
        }
        if (option == "auth-user-pass" && _credentials) {
            return moat_auth_line(number, raw, words);
        }
        refuse_console(option, words);
        refuse_privileged_port(option, words);
        std::size_t at = file_argument(option, words);
        if (at == 0 || not_a_file(option, words[at])) {
            return raw;
        }
        ovpn_file_ref ref{number, option, resolve(words[at]), ""};
        ref.copy = _dir + "/" + copy_name(_out.files.size(), ref.source);
        words[at] = ref.copy;
        _out.files.push_back(std::move(ref));
        std::string rewritten;
        for (const auto& w : words) {
            rewritten += (rewritten.empty() ? "" : " ") + quote(w);
        }
        if (prefix.size() + rewritten.size() > ovpn_longest_line) {
            fail("with the path of the daemon's copy of " + _out.files.back().source + ", the line would be longer " +
                 "than the " + std::to_string(ovpn_longest_line) + " bytes openvpn reads: name the file by a shorter path");
        }
        return prefix + rewritten;
    }

    ovpn_config& result() { return _out; }

    // A line of the inline block `tag` (its opening and closing tag lines
    // included) as the daemon gets it. Data is passed as it is, except the
    // credentials of an <auth-user-pass> block: with the tunnel's own keys
    // they are commented out (the keys win, as for `auth-user-pass FILE`),
    // without them the block must hold a username and a password line.
    std::string block_line(const std::string& tag, int number, const std::string& raw, bool opening, bool closing) {
        if (opening && !takes_inline(tag)) {
            _line = number;
            fail("openvpn takes no inline <" + tag + "> block (only files' contents: <ca>, <cert>, <key>, "
                 "<tls-crypt>, ...) and would stop at it");
        }
        if (tag != "auth-user-pass") {
            return raw;
        }
        if (_credentials) {
            if (opening) {
                _out.notices.push_back({number, "the inline <auth-user-pass> block ignored: the tunnel's username "
                                                "and password come from its own keys (username/passwordFile or "
                                                "credentialsFile)"});
            }
            return "# moat: the tunnel's own credentials are used";
        }
        if (opening) {
            _inline_credentials = true;
            _block_start = number;
            _block_lines.clear();
        } else if (!closing) {
            _block_lines.push_back(trimmed(raw));
        } else if (_block_lines.size() < 2 || _block_lines[0].empty() || _block_lines[1].empty()) {
            _line = _block_start;
            fail("the inline <auth-user-pass> block needs two lines, the username and then the password");
        }
        return raw;
    }

    // With credentials from the tunnel's keys and no `auth-user-pass` line,
    // one is added: the user asked for them to be sent. Without them, a
    // bare `auth-user-pass` needed an inline block, before or after it.
    std::string trailer() {
        if (_prompt_line != 0 && !_inline_credentials) {
            _line = _prompt_line;
            fail("a bare 'auth-user-pass' asks for the username and password on a console, which the daemon does "
                 "not have: set username and passwordFile (or credentialsFile) in the tunnel's section");
        }
        if (!_credentials || !_out.auth_file.empty()) {
            return "";
        }
        _out.auth_file = auth_path();
        _out.notices.push_back({0, "no 'auth-user-pass' line: one added, for the tunnel's credentials"});
        return "auth-user-pass " + quote(_out.auth_file) + "\n";
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw moat::error(_file + ":" + std::to_string(_line) + ": " + what);
    }

    std::string resolve(const std::string& path) const {
        std::filesystem::path p(path);
        return (p.is_absolute() ? p : _base / p).lexically_normal().string();
    }

    unsigned mtu(const std::string& word) const {
        try {
            std::size_t used = 0;
            unsigned long n = std::stoul(word, &used);
            if (used == word.size() && n >= 576 && n <= 65535) {
                return static_cast<unsigned>(n);
            }
        } catch (const std::exception&) {
        }
        fail("tun-mtu \"" + word + "\" is not a number from 576 to 65535");
    }

    std::string auth_path() const { return _dir + "/" + ovpn_auth_file_name; }

    // `auth-user-pass [FILE]` when the tunnel's keys give the credentials:
    // the file the runner writes from them, whatever the line named.
    std::string moat_auth_line(int number, const std::string& raw, const std::vector<std::string>& words) {
        _out.auth_file = auth_path();
        if (words.size() > 1) {
            _out.notices.push_back({number, "'" + trimmed(raw) + "' overridden: the tunnel's username and "
                                            "password come from its own keys (username/passwordFile or "
                                            "credentialsFile)"});
        }
        return "auth-user-pass " + quote(_out.auth_file);
    }

    // Without a file openvpn asks on its console, which it does not have
    // under moat: it would fail at each start, forever.
    // A bare `auth-user-pass` is judged at the end (trailer()): an inline
    // block anywhere in the file (OpenVPN 2.6) answers it.
    void refuse_console(const std::string& option, const std::vector<std::string>& words) {
        bool bare = words.size() < 2 || words[1] == "stdin";
        if (option == "auth-user-pass" && bare && _prompt_line == 0) {
            _prompt_line = _line;
        }
        if (option == "askpass" && bare) {
            fail("a bare 'askpass' asks for the private key's passphrase on a console, which the daemon does not "
                 "have: name a file holding it (askpass FILE)");
        }
    }

    // The daemon has no CAP_NET_BIND_SERVICE (daemon.hpp): openvpn 2.6 exits
    // with "Socket bind failed ... Permission denied" at every start. A
    // client needs no fixed local port (without `lport` it binds none).
    void refuse_privileged_port(const std::string& option, const std::vector<std::string>& words) const {
        if (option != "lport" || words.size() < 2) {
            return;
        }
        const std::string& w = words[1];
        if (!w.empty() && w.size() <= 5 && w.find_first_not_of("0123456789") == std::string::npos) {
            int port = std::stoi(w);
            if (port > 0 && port < 1024) {
                fail("'lport " + w + "': moat runs openvpn without privileges, and it cannot bind a port below "
                     "1024; remove the line (a client needs no fixed local port)");
            }
        }
    }

    // Lines that cannot work under moat, where dropping them would change
    // what the tunnel checks or speaks: the user decides. OpenVPN 2.6 refuses
    // `tls-remote` and `key-method 1`; a TAP tunnel needs a device moat does
    // not make; `cryptoapicert` needs Windows; code the file would have
    // the daemon load (a provider by path, a PKCS#11 module).
    void refuse_unusable(const std::string& option, const std::vector<std::string>& words) const {
        if (option == "tls-remote") {
            // Its word was a common name or an old-style subject (/C=../CN=..).
            bool name = words.size() > 1 && words[1].find('=') == std::string::npos;
            fail("'tls-remote' was removed in OpenVPN 2.4 and openvpn refuses the file for it; it checked the "
                 "server's certificate, a check moat will not drop: write 'verify-x509-name " +
                 (name ? quote(words[1]) : std::string("<the server's common name>")) + " name' instead");
        }
        // Shared objects loaded into the daemon, as a plugin is: a path
        // makes `providers` load any file (OpenSSL's own names stay), and
        // `engine` too where openvpn is built with OpenSSL engines (Debian's
        // is not).
        bool loads = option == "providers" || option == "engine";
        for (std::size_t i = 1; loads && i < words.size(); ++i) {
            if (words[i].find('/') != std::string::npos) {
                fail("'" + option + " " + words[i] + "' would load a shared object into the daemon; moat never "
                     "loads code a tunnel's file names: name OpenSSL's own (providers legacy default)");
            }
        }
        if (option == "pkcs11-providers") {
            fail("'pkcs11-providers' loads a PKCS#11 module (a shared object) into the daemon, and moat gives the "
                 "daemon no hardware token: use a key file ('key' or 'pkcs12')");
        }
        if (option == "cryptoapicert") {
            fail("'cryptoapicert' reads the Windows certificate store, which openvpn on Linux does not have: export "
                 "the certificate and its key to files and name them with 'cert' and 'key' (or 'pkcs12')");
        }
        bool tap = (option == "dev" && words.size() > 1 && words[1].rfind("tap", 0) == 0) ||
                   (option == "dev-type" && words.size() > 1 && words[1] == "tap");
        if (tap) {
            fail("'" + option + " " + words[1] + "' asks for an Ethernet (TAP) tunnel; moat routes IP through a TUN "
                 "device and the server would not understand it: use the provider's TUN (routed) file");
        }
        if (option == "key-method" && words.size() > 1 && words[1] != "2") {
            fail("'key-method " + words[1] + "': OpenVPN 2.5 and later speak key method 2 only; a server that "
                 "needs another cannot be reached");
        }
    }

    void refuse_directories(const std::string& option, const std::vector<std::string>& words) const {
        if (option == "config") {
            fail("'config' includes another file; moat hands the daemon one file: put its lines into this one");
        }
        if (option == "capath" || (option == "crl-verify" && words.size() > 2 && words[2] == "dir")) {
            fail("'" + option + "' names a directory, which moat does not copy for the daemon: use a single file "
                 "('ca' or 'crl-verify FILE')");
        }
    }

    const std::string& _file;
    const std::string& _dir;
    std::filesystem::path _base;
    bool _credentials;
    bool _inline_credentials = false;  // an <auth-user-pass> block was seen
    int _prompt_line = 0;              // the first bare `auth-user-pass`, without the keys
    int _line = 0;
    int _block_start = 0;
    std::vector<std::string> _block_lines;  // an inline <auth-user-pass> block's, to check it is complete
    ovpn_config _out;
};

}  // namespace

ovpn_config sanitize_ovpn(const std::string& text, const std::string& file, const std::string& private_dir,
                          bool moat_credentials) {
    sanitizer s(file, private_dir, moat_credentials);
    std::string out;
    for (const auto& l : ovpn_read_lines(text, file)) {
        switch (l.kind) {
        case ovpn_line_kind::option:
            out += s.line(l.number, l.text);
            break;
        case ovpn_line_kind::block_open:
        case ovpn_line_kind::block_data:
        case ovpn_line_kind::block_close:
            out += s.block_line(l.tag, l.number, l.text, l.kind == ovpn_line_kind::block_open,
                                l.kind == ovpn_line_kind::block_close);
            break;
        case ovpn_line_kind::connection_open:
        case ovpn_line_kind::connection_close:
            out += l.text;
            break;
        }
        out += "\n";
    }
    out += s.trailer();
    s.result().text = std::move(out);
    return std::move(s.result());
}

}  // namespace moat::tunnel
