// A port of how openvpn 2.6.14 reads a config file (options.c:
// read_config_file, parse_line, check_inline_file, read_inline_file,
// read_config_string; buffer.c: buf_parse), written from openvpn's code
// and independent of moat's reader: the options openvpn would take from a
// file, or that it would exit on it. The tests hand it the daemon's copy
// the sanitiser wrote and check that nothing there runs or loads code.
// Shared by tunnel_ovpn_file_test and fuzz_ovpn.
#pragma once

#include <cctype>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace moat::test::openvpn {

struct reading {
    bool fatal = false;                         // openvpn exits on this file
    std::vector<std::vector<std::string>> options;  // in order, <connection>'s included
};

inline bool space(unsigned char c) { return c == '\0' || std::isspace(c); }

// parse_line(): false where openvpn reports an options error (fatal).
inline bool parse_line(const std::string& line, std::vector<std::string>& p) {
    enum { initial, quoted, unquoted, done, squoted } state = initial;
    bool backslash = false;
    std::string parm;
    const std::size_t n = 16;  // SIZE(p) - 1 with MAX_PARMS 16
    for (std::size_t i = 0; i <= line.size(); ++i) {
        char in = i < line.size() ? line[i] : '\0', out = 0;
        if (!backslash && in == '\\' && state != squoted) {
            backslash = true;
        } else {
            if (state == initial) {
                if (!space(static_cast<unsigned char>(in))) {
                    if (in == ';' || in == '#') break;
                    if (!backslash && in == '"') state = quoted;
                    else if (!backslash && in == '\'') state = squoted;
                    else { out = in; state = unquoted; }
                }
            } else if (state == unquoted) {
                if (!backslash && space(static_cast<unsigned char>(in))) state = done;
                else out = in;
            } else if (state == quoted) {
                if (!backslash && in == '"') state = done;
                else out = in;
            } else if (state == squoted) {
                if (in == '\'') state = done;
                else out = in;
            }
            if (state == done) {
                p.push_back(parm);
                parm.clear();
                state = initial;
            }
            if (backslash && out) {
                if (!(out == '\\' || out == '"' || space(static_cast<unsigned char>(out)))) return false;
            }
            backslash = false;
        }
        if (out) {
            if (parm.size() >= 256) return false;  // OPTION_PARM_SIZE
            parm += out;
        }
        if (p.size() >= n) break;
    }
    return state == initial;
}

// A source of lines: fgets() on the file, or buf_parse() on a block's text.
struct source {
    const std::string& text;
    std::size_t at = 0;
    bool buffer = false;  // buf_parse (inside <connection>) rather than fgets

    // One read with a buffer of `size` bytes, as a C string; false at the end.
    bool get(std::size_t size, std::string& line) {
        line.clear();
        if (!buffer) {  // fgets: up to size - 1 bytes, through the newline
            if (at >= text.size()) return false;
            while (at < text.size() && line.size() + 1 < size) {
                char c = text[at++];
                line += c;
                if (c == '\n') break;
            }
            line = line.substr(0, line.find('\0'));  // strlen()
            return true;
        }
        bool eol = false;  // buf_parse: the delimiter and a NUL end the line; a long one loses a byte
        std::size_t n = 0;
        for (;;) {
            int c = at < text.size() ? static_cast<unsigned char>(text[at++]) : -1;
            if (c < 0) eol = true;
            if (c <= 0 || c == '\n') c = 0;
            if (n >= size) break;
            if (c == 0) break;
            line += static_cast<char>(c);
            ++n;
        }
        if (line.size() > size - 1) line.resize(size - 1);
        bool got = !(eol && line.empty());
        if (got && line.size() + 1 < size) line += '\n';  // in_src_get appends it
        return got;
    }
};

inline void read_options(source& in, reading& r, bool top);
inline bool forbidden(const std::string& option);

// read_inline_file(): the block's text up to the line starting </tag>.
inline bool read_inline(source& in, const std::string& tag, std::string& body) {
    const std::string end = "</" + tag + ">";
    for (std::string line; in.get(256, line);) {
        std::size_t lead = 0;
        while (lead < line.size() && std::isspace(static_cast<unsigned char>(line[lead]))) ++lead;
        if (line.compare(lead, end.size(), end) == 0) return true;
        body += line;
    }
    return false;  // "Endtag missing": fatal
}

inline void add(source& in, std::vector<std::string> p, reading& r) {
    if (!p.empty() && p[0].size() >= 3 && p[0].compare(0, 2, "--") == 0) p[0] = p[0].substr(2);
    bool is_inline = false;
    if (p.size() == 1 && p[0].size() >= 1 && p[0].front() == '<' && p[0].back() == '>' && p[0].size() >= 2) {
        std::string tag = p[0].substr(1, p[0].size() - 2), body;
        if (!read_inline(in, tag, body)) {
            r.fatal = true;
            return;
        }
        p = {tag, body};
        is_inline = true;
        if (forbidden(tag)) {  // verify_permission(): none of them may be inline, a fatal error
            r.fatal = true;
            return;
        }
    }
    if (p.empty()) return;
    if (p[0] == "setenv" && p.size() >= 2 && p[1] == "opt") {  // add_option(): the rest is the option
        if (p.size() == 2) p.push_back("setenv opt");
        p.erase(p.begin(), p.begin() + 2);
    }
    r.options.push_back(p);
    if (p[0] == "connection" && p.size() == 2 && is_inline) {  // `connection X` on one line: ignored
        std::string body = p[1].substr(0, p[1].find('\0'));
        source inner{body, 0, true};
        read_options(inner, r, false);
    }
}

inline void read_options(source& in, reading& r, bool top) {
    std::string line;
    for (int number = 1; !r.fatal && in.get(top ? 257 : 256, line); ++number) {
        if (top && line.size() == 256) {  // "Maximum option line length exceeded": M_USAGE
            r.fatal = true;
            return;
        }
        if (top && number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line = line.substr(3);
        std::vector<std::string> p;
        if (!parse_line(line, p)) {
            r.fatal = true;
            return;
        }
        add(in, std::move(p), r);
    }
}

inline reading read(const std::string& text) {
    reading r;
    source in{text};
    read_options(in, r, true);
    return r;
}

// Options that run or load code, or that moat owns, which the daemon's copy
// may never hold where openvpn reads them.
inline bool forbidden(const std::string& option) {
    static const std::set<std::string> names = {
        "plugin", "up", "down", "down-pre", "route-up", "route-pre-down", "ipchange", "tls-verify",
        "learn-address", "client-connect", "client-disconnect", "auth-user-pass-verify", "tls-crypt-v2-verify",
        "script-security", "config", "cd", "user", "group", "chroot", "daemon", "log", "log-append", "writepid",
        "status", "management", "route", "redirect-gateway", "dev", "dev-node", "setcon", "iproute",
        "pkcs11-providers"};
    return names.count(option) != 0;
}

}  // namespace moat::test::openvpn
