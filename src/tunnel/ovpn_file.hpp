// The user's OpenVPN file, made fit for a daemon that has no privileges.
//
// Theory of operation: the tunnel runner (root, moat's own code) hands
// openvpn a copy of the user's .ovpn in a directory of its own
// (/run/moat-tunnel/<name>, private to `_tunnels`). Two things change in
// that copy, line by line, and nothing else:
//
//  * Lines that need a privilege the daemon no longer has, or that moat
//    decides itself (`user`, `chroot`, `daemon`, `log`, `management*`,
//    `dev`, `dev-node`, `persist-tun`, `iproute`, `up`/`down`/... scripts,
//    `plugin`, ...) are commented out with the reason, and each one yields a
//    notice for the runner's log.
//  * Files named by path (`ca`, `cert`, `key`, `tls-auth`, `tls-crypt`,
//    `tls-crypt-v2`, `pkcs12`, `secret`, `dh`, `crl-verify`, `extra-certs`,
//    `auth-user-pass FILE`, `askpass FILE`, `http-proxy-user-pass`, the
//    auth file of `http-proxy`/`socks-proxy`) are rewritten to a copy in
//    the private directory, which the runner makes readable by the daemon
//    alone. Relative paths resolve against the .ovpn's own directory, as a
//    provider's zip expects (or against a `cd` line above them, as openvpn
//    does). Inline blocks (<ca>...</ca>) stay as they are.
//
// Pure: reads and writes nothing, so the planner (which binds the named
// files into `_tunnels` and refuses a file it cannot read at `up`) and the
// runner (which copies them) see the same list. Lines are split the way
// openvpn's parse_line() does: whitespace, "double quotes" with backslash
// escapes, 'single quotes' literal, `#`/`;` comments at a token's start, an
// optional leading "--" on the keyword.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace moat::tunnel {

struct ovpn_file_ref {
    int line = 0;
    std::string option;  // "ca", "auth-user-pass", ...
    std::string source;  // absolute path on the host
    std::string copy;    // absolute path of the daemon's copy (in the private directory)
    bool operator==(const ovpn_file_ref&) const = default;
};

struct ovpn_notice {
    int line = 0;
    std::string text;  // "'user nobody' ignored: ..."
};

struct ovpn_config {
    std::string text;  // what the daemon reads
    std::vector<ovpn_file_ref> files;
    std::vector<ovpn_notice> notices;
    std::optional<unsigned> tun_mtu;  // `tun-mtu`, for the device moat creates
};

// `file` is the .ovpn's absolute path (for relative paths and messages),
// `private_dir` where the copies will live. Throws moat::error
// "<file>:<line>: ..." for what cannot be handed to the daemon (an included
// `config`, a `capath` or `crl-verify ... dir` directory, a bad tun-mtu).
ovpn_config sanitize_ovpn(const std::string& text, const std::string& file, const std::string& private_dir);

// One line of openvpn's config syntax as its words; empty for a comment.
std::vector<std::string> ovpn_words(const std::string& line);

}  // namespace moat::tunnel
