// The user's OpenVPN file, made fit for a daemon that has no privileges.
//
// Theory of operation: the tunnel runner (root, moat's own code) hands
// openvpn a copy of the user's .ovpn in a directory of its own
// (/run/moat-tunnel/<name>, private to `_tunnels`). These things change in
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
//  * Credentials: with the tunnel's own keys (username + passwordFile, or
//    credentialsFile) every `auth-user-pass` line, bare or naming a file
//    (overridden, with a notice), points at the file the runner writes
//    from them (`auth_file`, mode 0600, the daemon's); a file without such
//    a line gets one, and an inline <auth-user-pass> block (OpenVPN 2.6) is
//    commented out (it would come after moat's line and win). Without those
//    keys a bare `auth-user-pass` (and a bare `askpass`) is refused unless
//    the file has such a block: openvpn would ask on a console it does not
//    have and fail at every start; a block short of its two lines is
//    refused too.
//  * The host's routing is moat's: openvpn runs with --route-noexec
//    --ifconfig-noexec and --route-nopull (runner.cpp), without any
//    privilege over the host's network (daemon.hpp), so no line of the file
//    and nothing the server pushes can change the host's tables or rules.
//    Lines that describe routing moat does by its own table (`route`,
//    `route-ipv6`, `redirect-gateway`, `redirect-private`, `route-gateway`,
//    `route-ipv6-gateway`, `route-metric`, `route-delay`, `route-method`,
//    `block-ipv6`) and DNS settings meant for scripts (`dhcp-option`,
//    `dns`; a confined container's resolver is its `dns` key) are
//    commented out all the same, with a notice, so that the log says what
//    the file asked for and was not done. Windows-only lines common in
//    providers' files (`block-outside-dns`, `ip-win32`, `register-dns`,
//    `pause-exit`, `service`, ...) are commented out because openvpn 2.6 on
//    Linux refuses the whole file for them ("Unrecognized option"). Kept as harmless: `ifconfig`,
//    `ifconfig-ipv6` (the tunnel's address, which the runner sets),
//    `route-nopull`, `pull-filter`, `allow-pull-fqdn`.
//  * Options OpenVPN 2.6 removed, for which it refuses the whole file, are
//    common in older providers' downloads (ExpressVPN's and IPVanish's
//    `keysize 256`). Those that did nothing any more are commented out
//    with a notice: `keysize`, `ncp-disable`, `key-method 2`, `no-iv`.
//    Those that did something are refused: `tls-remote` (a check of the
//    server's certificate; `verify-x509-name` replaces it), `key-method 1`.
//    Refused too: code the daemon would load (`providers`, `engine` by path, beyond
//    OpenSSL's own `legacy`, `default`; `pkcs11-providers`), `cryptoapicert`
//    (the Windows certificate store) and a TAP
//    tunnel (`dev tap`, `dev-type tap`): moat makes a TUN device, and
//    silently routing IP to a server that expects Ethernet frames would
//    connect and carry nothing.
//  * Refused, with the line: what would make the daemon fail at every
//    start — an included `config`, directories (`capath`), an inline block
//    of an option that takes none (`<plugin>`), a bare
//    `auth-user-pass`/`askpass` without the keys, an `lport` below 1024
//    (the daemon cannot bind it; `port N` alone binds nothing in a client).
//
// Pure: reads and writes nothing, so the planner (which binds the named
// files into `_tunnels` and refuses a file it cannot read at `up`) and the
// runner (which copies them) see the same list. The file is cut into
// option lines and inline blocks as openvpn cuts it (ovpn_reader.hpp), and
// lines are split into words as openvpn's parse_line() splits them
// (ovpn_parse_line): whitespace, "double quotes" with backslash escapes,
// 'single quotes' literal, `#`/`;` comments at a word's start, an optional
// leading "--" on the keyword; a line openvpn cannot read is refused.
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
    int line = 0;  // 0: about the file as a whole
    std::string text;  // "'user nobody' ignored: ..."
};

// The file the runner writes the tunnel's credentials to, in the private directory.
inline constexpr const char* ovpn_auth_file_name = "auth-user-pass";

struct ovpn_config {
    std::string text;  // what the daemon reads
    std::string auth_file;  // where the runner must write the credentials ("" = moat gives none)
    std::vector<ovpn_file_ref> files;
    std::vector<ovpn_notice> notices;
    std::optional<unsigned> tun_mtu;  // `tun-mtu`, for the device moat creates
};

// `text` is the .ovpn's content (a leading UTF-8 byte order mark is
// skipped, as openvpn skips it), `file` its absolute path (for relative
// paths and messages), `private_dir` where the copies will live,
// `moat_credentials` whether the tunnel's keys give the username and
// password. Throws moat::error
// "<file>:<line>: ..." for what cannot be handed to the daemon (an included
// `config`, a `capath` or `crl-verify ... dir` directory, a bad tun-mtu, a
// bare `auth-user-pass` without the keys or an inline block, `tls-remote`).
ovpn_config sanitize_ovpn(const std::string& text, const std::string& file, const std::string& private_dir,
                          bool moat_credentials = false);

// The content of openvpn's auth file (the username's line, then the
// password's) from `username` and a password file's text (its first
// line), or from a credentials file's text (its first two lines, as
// openvpn reads `auth-user-pass FILE`). A trailing CR goes (a file written
// on Windows). Throws moat::error saying what is missing.
std::string ovpn_auth_from_password(const std::string& username, const std::string& password_text);
std::string ovpn_auth_from_credentials(const std::string& credentials_text);

// One line of openvpn's config syntax as its words, split as openvpn's
// parse_line() splits it; empty for a comment. `error` says why openvpn
// could not read the line (it would exit), with no words then.
std::vector<std::string> ovpn_parse_line(const std::string& line, std::string& error);
// The same, empty for a line openvpn cannot read.
std::vector<std::string> ovpn_words(const std::string& line);

// An option line as openvpn's add_option() takes it.
struct ovpn_option_line {
    int number = 0;
    std::string option;              // its name: no leading "--", no `setenv opt` ("" for a comment or blank)
    std::vector<std::string> words;  // the words from the option's on, the first as written
    std::string prefix;              // "setenv opt " if the line began so: openvpn reads the rest as an option
};

// One line (number `number` of `file`); throws moat::error
// "<file>:<line>: openvpn cannot read this line: ..." where it would exit.
ovpn_option_line ovpn_option(const std::string& line, int number, const std::string& file);

// Every option line of a file, at the top level and inside <connection>
// blocks, cut as openvpn cuts it (ovpn_reader.hpp); comments and inline
// blocks' data left out. Throws moat::error "<file>:<line>: ..." for a
// file openvpn could read otherwise than moat (ovpn_read_lines) or not at all.
std::vector<ovpn_option_line> ovpn_options(const std::string& text, const std::string& file);

}  // namespace moat::tunnel
