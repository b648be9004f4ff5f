// See host_secrets.hpp.
#include "plan/host_secrets.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>
#include <utility>

namespace moat::plan {

namespace {

// The path with every symlink followed; "" when it does not resolve.
std::string resolved(const std::string& path) {
    std::error_code ec;
    auto real = std::filesystem::canonical(path, ec);
    return ec ? std::string() : real.string();
}

}  // namespace

bool is_ssh_host_key(std::string_view name) {
    return name.starts_with("ssh_host_") && name.ends_with("_key") && name.size() >= 12;  // ssh_host_key: SSH 1's
}

host_secrets::host_secrets(std::string receiver) : _receiver(std::move(receiver)) {
    auto add = [&](const std::string& path, const std::string& what) {
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            _secrets.push_back({st.st_dev, st.st_ino, what});
        }
    };
    for (const char* f : host_secret_files) {
        add(f, std::string("the host's ") + f);
    }
    if (DIR* d = ::opendir(ssh_config_dir)) {
        while (dirent* e = ::readdir(d)) {
            if (is_ssh_host_key(e->d_name)) {
                add(std::string(ssh_config_dir) + "/" + e->d_name,
                    std::string("the host's SSH key ") + ssh_config_dir + "/" + e->d_name);
            }
        }
        ::closedir(d);
    }
}

host_secrets::host_secrets(std::string receiver, const config::model& m, const std::string& state_dir)
    : host_secrets(std::move(receiver)) {
    for (const auto& p : m.pipes) {
        struct stat st;
        if (!p.key_file.empty() && ::stat(p.key_file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            _secrets.push_back({st.st_dev, st.st_ino, "the key file of pipe '" + p.name + "', " + p.key_file});
        }
    }
    _state_dir = resolved(state_dir);
}

std::string host_secrets::refusal(dev_t dev, ino_t ino) const {
    for (const auto& s : _secrets) {
        if (s.dev == dev && s.ino == ino) {
            return "it is " + s.what + ": moat hands none of the host's secrets to " + _receiver;
        }
    }
    return "";
}

std::string host_secrets::refusal(const std::string& path) const {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        return "";
    }
    if (auto r = refusal(st.st_dev, st.st_ino); !r.empty()) {
        return r;
    }
    if (!_state_dir.empty()) {
        auto real = resolved(path);
        if (real.size() > _state_dir.size() && real.starts_with(_state_dir) && real[_state_dir.size()] == '/') {
            return "it is in moat's state directory " + _state_dir + ": moat hands none of the host's secrets to " +
                   _receiver;
        }
    }
    return "";
}

std::string host_secrets::refusal(int fd) const {
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        return "";
    }
    return refusal(st.st_dev, st.st_ino);
}

}  // namespace moat::plan
