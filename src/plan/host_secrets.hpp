// The host's secrets, which no container sees and no tunnel daemon is handed.
//
// Theory of operation: every container that shows the host's root masks
// the same files (container/rootfs.hpp): /etc/shadow, /etc/gshadow (and
// their "-" backups), the SSH host keys, moat's state directory and every
// pipe's key file. A tunnel's daemon is an untrusted program too
// (docs/SECURITY.md, layer 7), but it is handed copies of the files its
// config names (`ca`, `auth-user-pass FILE`, ...), which `_tunnels` binds
// back over its masks. A provider's .ovpn naming `auth-user-pass
// /etc/shadow` would have openvpn send the host's root hash to the
// provider's server as a username; `ca /etc/ssh/ssh_host_ed25519_key`
// would give the daemon the host's SSH key. So a tunnel file that *is* one
// of the secrets is refused: compared by device and inode (the file a
// symlink or a hard link leads to), when planning with the line that names
// it, and the host's own secret files (the list below) again on the tree
// `_tunnels` is given (the path could change in between). So is a pipe's
// key file that is one of them: the pipe's container gets a copy of its key.
#pragma once

#include "config/model.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace moat::plan {

// Host files that hold secrets wherever moat runs.
inline constexpr const char* host_secret_files[] = {"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-"};
// Where the host's SSH keys live, and whether a name there is a private
// host key (ssh_host_<type>_key; the .pub files are public).
inline constexpr const char* ssh_config_dir = "/etc/ssh";
bool is_ssh_host_key(std::string_view name);

class host_secrets {
public:
    // The host's own secrets (above), refused to `receiver` ("a container").
    explicit host_secrets(std::string receiver);
    // Also every pipe's key file and every file in the state directory.
    host_secrets(std::string receiver, const config::model& m, const std::string& state_dir);

    // Why the file `path` leads to may not be handed to the receiver: "it
    // is the host's /etc/shadow: ..."; "" when it may (or cannot be looked
    // at: the caller's own check says why).
    std::string refusal(const std::string& path) const;
    // The same for an open file or mount tree.
    std::string refusal(int fd) const;

private:
    struct secret {
        dev_t dev;
        ino_t ino;
        std::string what;
    };
    std::string refusal(dev_t dev, ino_t ino) const;

    std::string _receiver;
    std::vector<secret> _secrets;
    std::string _state_dir;  // resolved; "" without one
};

}  // namespace moat::plan
