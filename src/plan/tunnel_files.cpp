// The files an OpenVPN tunnel depends on, checked when planning: those its
// .ovpn names (tunnel/ovpn_file.hpp) and its credentials files. Each must
// be a readable regular file at `up`, holding what openvpn needs from it,
// or `up` is exit 2 naming the .ovpn's line or the tunnel's key — not a
// daemon that fails at every start. Their contents' digests go into the
// plan (plan/digest.hpp): an edit restarts the tunnel's daemon.
#include "plan/tunnel_files.hpp"

#include "plan/digest.hpp"
#include "plan/file_modes.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "tunnel/ovpn_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace moat::plan {

namespace {

// Why path cannot be read as a regular file ("" if it can).
std::string unreadable(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        return std::strerror(errno);
    }
    if (!S_ISREG(st.st_mode)) {
        return "not a regular file";
    }
    if (::access(path.c_str(), R_OK) != 0) {
        return std::strerror(errno);
    }
    return "";
}

}  // namespace

namespace detail {

// The files an OpenVPN config names; each must be a readable file now, not
// when the daemon first needs it (an `auth-user-pass FILE` one with both
// lines, or openvpn would ask for the missing one on a console).
std::vector<std::string> ovpn_files(const std::string& text, const std::string& file, bool moat_credentials,
                                    const host_secrets& secrets) {
    std::vector<std::string> out;
    tunnel::ovpn_config sanitized;
    try {
        sanitized = tunnel::sanitize_ovpn(text, file, "/run/moat-tunnel", moat_credentials);
    } catch (const moat::error& e) {
        // The runner's refusal at run time is the user's file at plan time.
        throw usage_error(e.what());
    }
    for (const auto& f : sanitized.files) {
        std::string at = file + ":" + std::to_string(f.line) + ": " + f.option + " " + f.source + ": ";
        if (auto why = secrets.refusal(f.source); !why.empty()) {
            throw usage_error(at + why);
        }
        if (auto why = unreadable(f.source); !why.empty()) {
            throw usage_error(at + why);
        }
        if (f.option == "auth-user-pass") {
            try {
                tunnel::ovpn_auth_from_credentials(sys::read_file(f.source));
            } catch (const moat::error& e) {
                throw usage_error(at + e.what());
            }
        }
        if (std::find(out.begin(), out.end(), f.source) == out.end()) {
            out.push_back(f.source);
        }
    }
    return out;
}

// The tunnel's credentials keys: each file readable, with what openvpn
// needs in it. Throws usage_error at the key.
void plan_credentials(const config::tunnel& t, tunnel_plan& p, const host_secrets& secrets) {
    p.username = t.username;
    p.password_file = t.password_file;
    p.credentials_file = t.credentials_file;
    for (const auto& [key, path] : {std::pair<std::string, std::string>{"passwordFile", t.password_file},
                                    {"credentialsFile", t.credentials_file}}) {
        if (path.empty()) {
            continue;
        }
        auto it = t.keys.find(key);
        std::string at = (it != t.keys.end() ? it->second : t.where).str() + ": tunnel '" + t.name + "': " + key +
                         " " + path + ": ";
        if (auto why = secrets.refusal(path); !why.empty()) {
            throw usage_error(at + why);
        }
        if (auto why = unreadable(path); !why.empty()) {
            throw usage_error(at + why);
        }
        warn_if_too_open(path, "the " + key + " of tunnel '" + t.name + "'");
        try {
            std::string text = sys::read_file(path);
            if (key == "passwordFile") {
                tunnel::ovpn_auth_from_password(t.username, text);
            } else {
                tunnel::ovpn_auth_from_credentials(text);
            }
            p.digests[path] = text_digest(text);
        } catch (const std::exception& e) {
            throw usage_error(at + e.what());
        }
    }
}

}  // namespace detail

std::vector<std::string> tunnel_secret_files(const config::model& m) {
    std::vector<std::string> out;
    // Regular files only: a mask over a directory would hide all of it from
    // every container (a tunnel no container uses is not checked; its
    // `ca /etc/ssl` must not take /etc/ssl from them).
    auto add = [&](const std::string& path) {
        struct stat st;
        if (!path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            std::find(out.begin(), out.end(), path) == out.end()) {
            out.push_back(path);
        }
    };
    for (const auto& t : m.tunnels) {
        add(t.config_path);
        add(t.password_file);
        add(t.credentials_file);
        if (t.type != config::tunnel_type::openvpn) {
            continue;
        }
        try {
            bool credentials = !t.password_file.empty() || !t.credentials_file.empty();
            for (const auto& f : tunnel::sanitize_ovpn(sys::read_file(t.config_path), t.config_path,
                                                       "/run/moat-tunnel", credentials).files) {
                add(f.source);
            }
        } catch (const std::exception&) {
            // Unreadable or refused: plan_tunnel says why for a tunnel `up` starts.
        }
    }
    return out;
}

}  // namespace moat::plan
