// See nixos_keys.hpp. Option list: nixpkgs' nixos-containers.nix (the
// per-container options and its networkOptions).
#include "config/nixos_keys.hpp"

#include "config/names.hpp"

#include <memory>

namespace moat::config {

namespace {

bool empty_value(const tree_node& n) {
    return (n.kind == node_kind::array && n.items.empty()) || (n.kind == node_kind::table && n.members.empty());
}

// nixos-containers.nix's defaults of the ignored keys: such a value changes nothing.
bool is_default(const tree_member& m) {
    if (empty_value(m.value)) {
        return true;
    }
    if (m.key == "timeoutStartSec") {
        return m.value.kind == node_kind::string && m.value.text == "1min";
    }
    if (m.key == "restartIfChanged" || m.key == "copyResolvConf") {
        return m.value.kind == node_kind::boolean && m.value.boolean;
    }
    return false;
}

struct ignored_key {
    std::string_view key;
    node_kind kind;
    std::string_view why;
};

// The NixOS system the container boots: moat runs the services of
// containers.<name>.services instead. One notice names all of them.
constexpr std::string_view system_keys[] = {"config", "path", "flake", "nixpkgs", "specialArgs"};

constexpr ignored_key ignored_keys[] = {
    {"extraFlags", node_kind::array, "NixOS-only: systemd-nspawn flags; moat does not run systemd-nspawn"},
    {"interfaces", node_kind::array, "NixOS-only: moving host interfaces into a container is not supported; "
                                     "use hostBridge or egress"},
    {"macvlans", node_kind::array, "NixOS-only: macvlan interfaces are not supported; use hostBridge or egress"},
    {"extraVeths", node_kind::table, "NixOS-only: moat gives a container one veth; use [networks.*] and hostBridge"},
    {"localMacAddress", node_kind::string, "NixOS-only: the container's veth keeps the kernel's random address"},
    {"timeoutStartSec", node_kind::string, "NixOS-only: systemd's start timeout; `moat up` waits for each "
                                           "container's init and fails on its own errors"},
    {"restartIfChanged", node_kind::boolean, "NixOS-only: `moat up` always recreates a container whose "
                                             "definition changed"},
    {"copyResolvConf", node_kind::boolean, "NixOS-only: moat writes resolv.conf only when `dns` is set; "
                                           "otherwise the container sees its root's own"},
};

void read_tmpfs(value_reader& r, container& c, const tree_member& m) {
    if (!r.is(m.value, node_kind::array, m.key, "an array of absolute paths like \"/var\"")) {
        return;
    }
    for (const auto& item : m.value.items) {
        if (item.kind == node_kind::string && item.text.find(':') != std::string::npos) {
            r.diag().add(item.pos, "tmpfs: mount options (systemd-nspawn's PATH:OPTIONS) are not supported, got " +
                                       shown(item) + "; give the path only");
            continue;
        }
        auto path = r.absolute_path(item, m.key);
        if (!path) {
            continue;
        }
        bool kernel = false;
        for (std::string_view top : {"/proc", "/sys", "/dev"}) {
            kernel = kernel || *path == top || path->starts_with(std::string(top) + "/");
        }
        if (*path == "/" || kernel) {
            r.diag().add(item.pos, "tmpfs: " + shown(item) + " is a file system moat sets up itself");
            continue;
        }
        c.tmpfs.push_back(*path);
    }
}

// An extraFlags entry that confines the network in systemd-nspawn: ignored,
// the container would run on the host's network instead.
bool network_flag(const std::string& flag) {
    return flag.starts_with("--network") || flag.starts_with("--private-network") || flag.starts_with("--port") ||
           flag == "-n" || flag.starts_with("-p");
}

}  // namespace

bool bare_containers_set(value_reader& r, const tree_node& root) {
    if (root.kind != node_kind::table || root.members.empty()) {
        return false;
    }
    for (const auto& m : root.members) {
        for (std::string_view top : {"containers", "networks", "tunnels", "pipes", "check"}) {
            if (m.key == top) {
                return false;
            }
        }
    }
    for (const auto& m : root.members) {
        for (const auto& k : m.value.members) {
            if (k.key == "privateNetwork" || k.key == "autoStart" || k.key == "bindMounts") {
                r.diag().add(m.key_pos, "this is a bare set of containers (what `nix eval --json ...config.containers` "
                                        "prints); moat's JSON has them under a top-level \"containers\" key",
                             "nix eval --json .#nixosConfigurations.HOST.config.containers --apply "
                             "'cs: { containers = builtins.mapAttrs (_: c: removeAttrs c [ \"config\" ]) cs; }'");
                return true;
            }
        }
    }
    return false;
}

void add_nixos_only_fields(value_reader& r, container& c, std::vector<field>& fs, std::vector<std::string>& notices) {
    const std::string path = "containers." + c.name;
    fs.push_back({"tmpfs", [&r, &c](const tree_member& m) { read_tmpfs(r, c, m); }});
    fs.push_back({"networkNamespace", [&r, path](const tree_member& m) {
                      r.diag().add(m.key_pos, path + ".networkNamespace is not supported: ignoring it would run the "
                                                     "container on the host's network",
                                   "use privateNetwork with egress, or a [networks.*] network");
                  }});
    for (const auto& k : ignored_keys) {
        fs.push_back({k.key, [&r, &notices, path, k](const tree_member& m) {
                          if (!r.is(m.value, k.kind, m.key) || is_default(m)) {
                              return;
                          }
                          if (m.key == "extraFlags") {
                              for (const auto& flag : r.strings(m)) {
                                  if (network_flag(flag)) {
                                      r.diag().add(m.key_pos, path + ".extraFlags: " + quoted(flag) +
                                                                  " is not supported: ignoring it would change the "
                                                                  "container's network");
                                  }
                              }
                          }
                          notices.push_back(r.at(m.key_pos).str() + ": ignored: " + path + "." + m.key + " (" +
                                            std::string(k.why) + ")");
                      }});
    }
    // One notice for all of them, at the first one that asks for something.
    auto said = std::make_shared<bool>(false);
    for (auto key : system_keys) {
        fs.push_back({key, [&r, &notices, path, said](const tree_member& m) {
                          if (*said || (m.key == "specialArgs" && empty_value(m.value))) {
                              return;
                          }
                          *said = true;
                          notices.push_back(r.at(m.key_pos).str() + ": ignored: " + path +
                                            ".config, .path, .flake, .nixpkgs, .specialArgs (NixOS-only: the NixOS "
                                            "system the container boots; moat runs " + path + ".services in the "
                                            "host's read-only root or `root` instead)");
                      }});
    }
}

}  // namespace moat::config
