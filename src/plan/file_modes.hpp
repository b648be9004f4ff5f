// Secret files other users can read: a warning, as wg-quick and openvpn give.
//
// Theory of operation: a pipe's keyFile is the pipe's whole secret (spiped
// derives its key from the file's bytes), a wg-quick file holds the
// interface's PrivateKey, and passwordFile/credentialsFile hold the VPN
// account's password. moat reads them as root, so their mode is the only
// thing that keeps other local users out. ssh refuses a private key with
// group or other access; wg-quick ("is world accessible") and openvpn
// ("is group or others accessible") only warn, and spiped says nothing.
// moat warns, as the tools that own these files do: the mode is the
// operator's decision about the machine's own users, not a mistake in the
// configuration, and refusing would stop every existing spiped or VPN
// setup at the first `up` after an upgrade (a refusal is exit 2 before
// anything is touched: no pipe, no tunnel, no container). The warning
// comes at every `up` and `plan`, names the file, its mode and the fix.
#pragma once

#include <optional>
#include <string>

namespace moat::plan {

// "permissions 0644 for '/etc/moat/k' are too open: other users can read
// the key of pipe 'p' (chmod 600 '/etc/moat/k')" when `path` gives group or
// others any access (mode & 077, as ssh checks); nullopt otherwise and for
// a file that cannot be stat'ed (reading it reports that). `what`: "the key
// of pipe 'p'".
std::optional<std::string> too_open(const std::string& path, const std::string& what);

// too_open(), printed as "moat: warning: ..." on stderr.
void warn_if_too_open(const std::string& path, const std::string& what);

}  // namespace moat::plan
