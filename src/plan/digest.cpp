#define OPENSSL_SUPPRESS_DEPRECATED  // SHA256_Init and friends: see class digest below
#include "plan/digest.hpp"

#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "sys/hash.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>

namespace moat::plan {

namespace {

// Changing it changes every digest, and so restarts everything that has
// one once: only with a reason.
constexpr char label[] = "moat plan dependency digest v1";

// The low-level SHA-256 (deprecated in OpenSSL 3, still there and the same
// algorithm): EVP_DigestInit's first call sets up OpenSSL's providers and
// method store, 2.3-3.1 ms of `up`'s own time on the benchmark machine
// against 0.05 ms for SHA256_Init (issue 14, docs/BENCHMARKS.md); `up`
// needs nothing else of OpenSSL. The digests are the same bytes as before.
// The state is wiped however the digest ends: it holds a key file's bytes.
class digest {
public:
    digest() {
        // The label with its NUL, then the content.
        if (SHA256_Init(&_ctx) != 1 || SHA256_Update(&_ctx, label, sizeof label) != 1) {
            throw moat::error("SHA-256: cannot initialise a digest");
        }
    }
    ~digest() { OPENSSL_cleanse(&_ctx, sizeof _ctx); }
    digest(const digest&) = delete;
    digest& operator=(const digest&) = delete;

    void update(const void* data, std::size_t size) {
        if (SHA256_Update(&_ctx, data, size) != 1) {
            throw moat::error("SHA-256: cannot update a digest");
        }
    }

    std::string hex() {
        unsigned char md[SHA256_DIGEST_LENGTH];
        if (SHA256_Final(md, &_ctx) != 1) {
            throw moat::error("SHA-256: cannot finish a digest");
        }
        return sys::to_hex(md);
    }

private:
    SHA256_CTX _ctx;
};

// path -> digest of the tunnel runners' plans among a container's services.
std::map<std::string, std::map<std::string, std::string>> tunnel_digests(const nlohmann::json& services) {
    std::map<std::string, std::map<std::string, std::string>> out;
    for (const auto& s : services) {
        const auto& argv = s.at("argv");
        if (argv.size() == 3 && argv[1] == "__tunnel") {
            auto t = tunnel_from_json(nlohmann::json::parse(argv[2].get<std::string>()));
            out[t.name] = t.digests;
        }
    }
    return out;
}

}  // namespace

std::string text_digest(const std::string& content) {
    digest d;
    d.update(content.data(), content.size());
    return d.hex();
}

std::string file_digest(const std::string& path) {
    sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        throw sys::errno_error("opening " + path);
    }
    digest d;
    unsigned char buf[8192];
    for (;;) {
        ssize_t r = ::read(fd.get(), buf, sizeof buf);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            OPENSSL_cleanse(buf, sizeof buf);
            throw sys::errno_error("reading " + path);
        }
        if (r == 0) {
            break;
        }
        d.update(buf, static_cast<std::size_t>(r));
    }
    OPENSSL_cleanse(buf, sizeof buf);  // a key file's bytes
    return d.hex();
}

std::string changed_files(const nlohmann::json& old_spec, const container_plan& p) {
    std::string out;
    auto add = [&](const std::string& what) { out += (out.empty() ? "" : ", ") + what; };
    try {
        std::map<std::string, std::string> was;
        for (const auto& s : old_spec.value("secrets", nlohmann::json::array())) {
            was[s.at("host_path")] = s.value("digest", "");
        }
        for (const auto& s : p.secrets) {
            auto it = was.find(s.host_path);
            if (it != was.end() && it->second != s.digest) {
                add("key file " + s.host_path + " changed");
            }
        }
        auto old_tunnels = tunnel_digests(old_spec.at("services"));
        for (const auto& [name, files] : tunnel_digests(to_json(p).at("services"))) {
            auto it = old_tunnels.find(name);
            if (it == old_tunnels.end()) {
                continue;
            }
            for (const auto& [path, digest] : files) {
                auto old = it->second.find(path);
                if (old != it->second.end() && old->second != digest) {
                    add("tunnel " + name + ": " + path + " changed");
                }
            }
        }
    } catch (const std::exception&) {
        return out;  // a record from another moat: "recreated" without the why
    }
    return out;
}

}  // namespace moat::plan
