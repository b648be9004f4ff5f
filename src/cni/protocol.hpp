// The CNI execution protocol (the CNI specification, section 2): what a
// runtime hands a plugin through its environment and stdin, and how the
// plugin answers on stdout.
//
// Theory of operation. libcni (and every engine built on it: Podman,
// Buildah, containerd, CRI-O, Nomad) runs the plugin binary once per verb
// with CNI_COMMAND and friends in the environment and the request
// configuration as JSON on stdin; the plugin prints a result or an error
// object on stdout and exits non-zero on error. Everything here is pure —
// no kernel, no files — so that the whole protocol surface (every verb,
// every version, every malformed input) is unit-tested without root, and the
// verbs' real work (cni/plugin.hpp) only ever sees a validated `request`.
#pragma once

#include "cni/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::cni {

// The spec's well-known error codes ("Error" in section 5); 100+ are ours.
enum class code : int {
    incompatible_version = 1,
    unsupported_field = 2,
    unknown_container = 3,
    invalid_environment = 4,
    io_failure = 5,
    decoding_failure = 6,
    invalid_config = 7,
    try_again_later = 11,
    not_available = 50,
    limited_connectivity = 51,
    // moat's own (100+): the subnet has no free address left.
    no_address = 100,
    internal = 999,
};

// An error the plugin reports as the spec's error object.
class error : public std::runtime_error {
public:
    error(enum code c, const std::string& msg, std::string details = {})
        : std::runtime_error(msg), _code(c), _details(std::move(details)) {}
    enum code code() const noexcept { return _code; }
    const std::string& details() const noexcept { return _details; }

private:
    enum code _code;
    std::string _details;
};

enum class verb { add, del, check, gc, status, version };

// The spec versions this plugin speaks, oldest first. 0.4.0 is the first
// with CHECK; older ones have a different result shape nobody still sends.
const std::vector<std::string>& supported_versions();
// The version a request without `cniVersion` means (libcni: "0.1.0").
inline constexpr std::string_view implied_version = "0.1.0";

// One attachment a GC request says is still valid.
struct attachment {
    std::string container_id;
    std::string ifname;
    bool operator==(const attachment&) const = default;
};

struct request {
    enum verb verb = verb::version;
    std::string container_id;  // CNI_CONTAINERID
    std::string netns;         // CNI_NETNS: a path such as /run/netns/x
    std::string ifname;        // CNI_IFNAME
    std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS "K=V;K=V"
    std::vector<std::string> path;                           // CNI_PATH
    std::string cni_version;   // the request configuration's cniVersion
    std::string network;       // its `name`
    std::string type;          // its `type`
    nlohmann::json config;     // the whole request configuration, unchanged
    std::optional<result> prev_result;
    nlohmann::json runtime_config = nlohmann::json::object();
    std::vector<attachment> valid_attachments;  // GC: cni.dev/valid-attachments
};

// Reads one variable of the environment; nullopt = unset (an empty value
// counts as unset, as libcni's plugins treat it).
using env_fn = std::function<std::optional<std::string>(const char* name)>;
env_fn process_environment();

// The whole request: checks the variables the verb needs (code 4 naming
// them), parses and checks the configuration (6 for bad JSON, 7 for a bad
// network configuration), the version (1) and prevResult. VERSION ignores
// stdin but for its cniVersion.
request parse_request(const env_fn& env, std::string_view stdin_text);

// The answers: one JSON document for stdout.
std::string version_answer(std::string_view stdin_text);
std::string error_answer(const error& e, std::string_view version);

// Spec identifiers: a container ID or network name starts with an
// alphanumeric and goes on with alphanumerics, '_', '.', '-'; an interface
// name is what the kernel takes (1–15 bytes, not "." or "..", no '/', ':' or
// white space).
bool valid_identifier(std::string_view s);
bool valid_ifname(std::string_view s);

// Compares "major.minor.patch" versions; throws error(decoding_failure) on
// anything else.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace moat::cni
