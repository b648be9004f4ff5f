#include "cni/protocol.hpp"

#include <cctype>
#include <cstdlib>

namespace moat::cni {
namespace {

using nlohmann::json;

struct verb_name {
    const char* name;
    enum verb verb;
};
constexpr verb_name verbs[] = {
    {"ADD", verb::add}, {"DEL", verb::del}, {"CHECK", verb::check},
    {"GC", verb::gc},   {"STATUS", verb::status}, {"VERSION", verb::version},
};

// The variables each verb cannot do without (section 2, "CNI operations").
// CNI_PATH is needed only to run a delegated (IPAM) plugin; GC must forward
// to it, so it requires the path as the spec says.
std::vector<const char*> required_for(verb v) {
    switch (v) {
    case verb::add:
    case verb::check: return {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"};
    case verb::del: return {"CNI_CONTAINERID", "CNI_IFNAME"};
    case verb::gc: return {"CNI_PATH"};
    case verb::status:
    case verb::version: return {};
    }
    return {};
}

std::vector<std::pair<std::string, std::string>> parse_args(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(';', start);
        std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!item.empty()) {
            auto eq = item.find('=');
            if (eq == std::string::npos || eq == 0) {
                throw error(code::invalid_environment, "CNI_ARGS: \"" + item + "\" is not KEY=VALUE");
            }
            out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return out;
}

std::vector<std::string> parse_path(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(':', start);
        std::string dir = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!dir.empty()) {
            out.push_back(dir);
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return out;
}

json parse_json(std::string_view text) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw error(code::decoding_failure, "the network configuration on stdin is not JSON", e.what());
    }
}

std::string string_field(const json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        throw error(code::invalid_config, std::string("\"") + key + "\" must be a string");
    }
    return it->get<std::string>();
}

void check_version(request& r) {
    if (r.cni_version.empty()) {
        r.cni_version = std::string(implied_version);
    }
    bool known = false;
    for (const auto& v : supported_versions()) {
        known = known || v == r.cni_version;
    }
    if (!known) {
        std::string list;
        for (const auto& v : supported_versions()) {
            list += (list.empty() ? "" : ", ") + v;
        }
        // A version we don't know may still parse as a version; a newer
        // minor is not ours to guess at.
        compare_versions(r.cni_version, "1.0.0");
        throw error(code::incompatible_version, "incompatible CNI versions",
                    "config is \"" + r.cni_version + "\", plugin supports [" + list + "]");
    }
    const char* since = nullptr;
    if (r.verb == verb::gc) since = "GC";
    if (r.verb == verb::status) since = "STATUS";
    if (since != nullptr && compare_versions(r.cni_version, "1.1.0") < 0) {
        throw error(code::incompatible_version, std::string("config version does not allow ") + since);
    }
}

std::vector<attachment> parse_attachments(const json& config) {
    std::vector<attachment> out;
    auto it = config.find("cni.dev/valid-attachments");
    if (it == config.end() || it->is_null()) {
        return out;
    }
    if (!it->is_array()) {
        throw error(code::invalid_config, "\"cni.dev/valid-attachments\" must be an array");
    }
    for (const auto& a : *it) {
        if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string() ||
            !a.contains("ifname") || !a["ifname"].is_string()) {
            throw error(code::invalid_config,
                        "\"cni.dev/valid-attachments\" entries need string \"containerID\" and \"ifname\"");
        }
        out.push_back({a["containerID"].get<std::string>(), a["ifname"].get<std::string>()});
    }
    return out;
}

void read_environment(request& r, const env_fn& env) {
    std::vector<std::string> missing;
    for (const char* name : required_for(r.verb)) {
        if (!env(name)) {
            missing.emplace_back(name);
        }
    }
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) {
            list += (list.empty() ? "" : ",") + m;
        }
        throw error(code::invalid_environment, "required env variables [" + list + "] missing");
    }
    r.container_id = env("CNI_CONTAINERID").value_or("");
    r.netns = env("CNI_NETNS").value_or("");
    r.ifname = env("CNI_IFNAME").value_or("");
    if (!r.container_id.empty() && !valid_identifier(r.container_id)) {
        throw error(code::invalid_environment, "invalid characters in CNI_CONTAINERID", r.container_id);
    }
    if (!r.ifname.empty() && !valid_ifname(r.ifname)) {
        throw error(code::invalid_environment, "CNI_IFNAME is not a valid interface name", r.ifname);
    }
    r.args = parse_args(env("CNI_ARGS").value_or(""));
    r.path = parse_path(env("CNI_PATH").value_or(""));
}

void read_config(request& r, std::string_view stdin_text) {
    r.config = parse_json(stdin_text);
    if (!r.config.is_object()) {
        throw error(code::decoding_failure, "the network configuration on stdin must be a JSON object");
    }
    r.cni_version = string_field(r.config, "cniVersion");
    r.network = string_field(r.config, "name");
    r.type = string_field(r.config, "type");
    if (r.network.empty()) {
        throw error(code::invalid_config, "missing network name");
    }
    if (!valid_identifier(r.network)) {
        throw error(code::invalid_config, "invalid characters found in network name", r.network);
    }
    check_version(r);
    if (auto it = r.config.find("prevResult"); it != r.config.end() && !it->is_null()) {
        r.prev_result = result_from_json(*it);
    }
    if (auto it = r.config.find("runtimeConfig"); it != r.config.end() && !it->is_null()) {
        if (!it->is_object()) {
            throw error(code::invalid_config, "\"runtimeConfig\" must be an object");
        }
        r.runtime_config = *it;
    }
    r.valid_attachments = parse_attachments(r.config);
}

}  // namespace

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> v = {"0.4.0", "1.0.0", "1.1.0"};
    return v;
}

env_fn process_environment() {
    return [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        if (v == nullptr || *v == '\0') {
            return std::nullopt;
        }
        return std::string(v);
    };
}

request parse_request(const env_fn& env, std::string_view stdin_text) {
    request r;
    auto command = env("CNI_COMMAND");
    if (!command) {
        throw error(code::invalid_environment, "required env variables [CNI_COMMAND] missing");
    }
    bool found = false;
    for (const auto& v : verbs) {
        if (*command == v.name) {
            r.verb = v.verb;
            found = true;
        }
    }
    if (!found) {
        throw error(code::invalid_environment, "unknown CNI_COMMAND: " + *command);
    }
    read_environment(r, env);
    if (r.verb != verb::version) {
        read_config(r, stdin_text);
    }
    return r;
}

std::string version_answer(std::string_view stdin_text) {
    // The spec: cniVersion is the one given on input. A runtime probing with
    // no input gets the newest we speak.
    std::string version = supported_versions().back();
    auto j = json::parse(stdin_text, nullptr, false);
    if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string()) {
        version = j["cniVersion"].get<std::string>();
    }
    return json{{"cniVersion", version}, {"supportedVersions", supported_versions()}}.dump() + "\n";
}

std::string error_answer(const error& e, std::string_view version) {
    json j = {{"cniVersion", std::string(version)}, {"code", static_cast<int>(e.code())}, {"msg", e.what()}};
    if (!e.details().empty()) {
        j["details"] = e.details();
    }
    return j.dump() + "\n";
}

bool valid_identifier(std::string_view s) {
    if (s.empty() || !std::isalnum(static_cast<unsigned char>(s.front()))) {
        return false;
    }
    for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

bool valid_ifname(std::string_view s) {
    if (s.empty() || s.size() > 15 || s == "." || s == "..") {
        return false;
    }
    for (char c : s) {
        if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

int compare_versions(std::string_view a, std::string_view b) {
    auto parts = [](std::string_view v) {
        std::vector<long> out;
        std::size_t start = 0;
        while (true) {
            auto dot = v.find('.', start);
            auto piece = v.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
            if (piece.empty() || piece.size() > 6) {
                throw error(code::decoding_failure, "not a CNI version: \"" + std::string(v) + "\"");
            }
            long n = 0;
            for (char c : piece) {
                if (c < '0' || c > '9') {
                    throw error(code::decoding_failure, "not a CNI version: \"" + std::string(v) + "\"");
                }
                n = n * 10 + (c - '0');
            }
            out.push_back(n);
            if (dot == std::string_view::npos) {
                break;
            }
            start = dot + 1;
        }
        if (out.size() != 3) {
            throw error(code::decoding_failure, "not a CNI version: \"" + std::string(v) + "\"");
        }
        return out;
    };
    auto pa = parts(a);
    auto pb = parts(b);
    return pa < pb ? -1 : (pb < pa ? 1 : 0);
}

}  // namespace moat::cni
