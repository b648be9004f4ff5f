#include "tunnel/ovpn_file.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <cctype>
#include <filesystem>
#include <sstream>
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
    {"allow-nonadmin", why_windows}, {"windows-driver", why_windows},
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
        auto words = ovpn_words(raw);
        if (words.empty()) {
            return raw;
        }
        std::string option = words[0].rfind("--", 0) == 0 ? words[0].substr(2) : words[0];
        refuse_directories(option, words);
        if (option == "cd" && words.size() > 1) {
            _base = resolve(words[1]);
        }
        if (const char* why = neutralised_why(option)) {
            std::string shown = trimmed(raw);
            _out.notices.push_back({number, "'" + shown + "' ignored: " + why});
            return "# moat: " + std::string(why) + ": " + shown;
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
        return rewritten;
    }

    ovpn_config& result() { return _out; }

    // With credentials from the tunnel's keys and no `auth-user-pass` line,
    // one is added: the user asked for them to be sent.
    std::string trailer() {
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
    void refuse_console(const std::string& option, const std::vector<std::string>& words) const {
        bool bare = words.size() < 2 || words[1] == "stdin";
        if (option == "auth-user-pass" && bare) {
            fail("a bare 'auth-user-pass' asks for the username and password on a console, which the daemon does "
                 "not have: set username and passwordFile (or credentialsFile) in the tunnel's section");
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
    int _line = 0;
    ovpn_config _out;
};

}  // namespace

std::vector<std::string> ovpn_words(const std::string& line) {
    enum class in { gap, word, dquote, squote } state = in::gap;
    std::vector<std::string> words;
    std::string word;
    bool escaped = false;
    for (char c : line) {
        if (c == '\r' || c == '\n') {
            break;
        }
        if (!escaped && c == '\\' && state != in::squote) {
            escaped = true;
            if (state == in::gap) {
                state = in::word;
            }
            continue;
        }
        bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
        switch (state) {
        case in::gap:
            if (space) {
                break;
            }
            if (c == '#' || c == ';') {
                return words;  // a comment runs to the end of the line
            }
            state = c == '"' ? in::dquote : c == '\'' ? in::squote : in::word;
            if (state == in::word) {
                word += c;
            }
            break;
        case in::word:
            if (space && !escaped) {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        case in::dquote:
            if (c == '"' && !escaped) {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        case in::squote:
            if (c == '\'') {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        }
        escaped = false;
    }
    if (state != in::gap) {
        words.push_back(word);
    }
    return words;
}

ovpn_config sanitize_ovpn(const std::string& text, const std::string& file, const std::string& private_dir,
                          bool moat_credentials) {
    sanitizer s(file, private_dir, moat_credentials);
    std::string out, block;  // block: the inline tag we are inside of, if any
    // openvpn skips a byte order mark and reads the first line's option:
    // so must moat, or that line would escape it.
    std::istringstream lines{std::string(sys::without_bom(text))};
    int number = 0;
    for (std::string raw; std::getline(lines, raw);) {
        ++number;
        if (!raw.empty() && raw.back() == '\r') {
            raw.pop_back();
        }
        std::string t = trimmed(raw);
        if (!block.empty()) {
            block = t == "</" + block + ">" ? "" : block;
            out += raw + "\n";
            continue;
        }
        // <connection> holds options; every other tag holds data.
        if (t.size() > 2 && t.front() == '<' && t.back() == '>' && t[1] != '/' && t != "<connection>") {
            block = t.substr(1, t.size() - 2);
            out += raw + "\n";
            continue;
        }
        out += s.line(number, raw) + "\n";
    }
    out += s.trailer();
    s.result().text = std::move(out);
    return std::move(s.result());
}

namespace {

// A line of a credentials file as openvpn reads it: without its line end.
std::string nth_line(const std::string& text, int n) {
    std::istringstream in(text);
    std::string line;
    for (int i = 0; i < n && std::getline(in, line); ++i) {
        if (i + 1 == n) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            return line;
        }
    }
    return "";
}

}  // namespace

std::string ovpn_auth_from_password(const std::string& username, const std::string& password_text) {
    std::string password = nth_line(password_text, 1);
    if (password.empty()) {
        throw moat::error("its first line (the password) is empty");
    }
    return username + "\n" + password + "\n";
}

std::string ovpn_auth_from_credentials(const std::string& credentials_text) {
    std::string username = nth_line(credentials_text, 1), password = nth_line(credentials_text, 2);
    if (username.empty() || password.empty()) {
        throw moat::error(std::string("needs two lines, the username and then the password; its ") +
                          (username.empty() ? "first" : "second") + " line is empty or missing");
    }
    return username + "\n" + password + "\n";
}

}  // namespace moat::tunnel
