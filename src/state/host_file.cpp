// host.json: written with its small, vital fields first, and read back
// field by field as far as it goes when it is damaged.
//
// A truncated file is the likely damage (a full disk, a copy cut short, a
// crash before fsync was used). The salvage parser is nlohmann's SAX
// interface building the tree itself: every value that was complete before
// the break is kept; a record of a list or map that was still open (a
// network, a rule, a route cut in half) is dropped whole, so nothing
// half-read is ever acted on. The order the file is written in makes the
// break fall, most likely, inside the long ruleset texts at the end: the
// table flag, the sysctls with their original values, the bridges and the
// routing come first and survive.
#include "state/store.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <unistd.h>

namespace moat::state {

namespace {

using json = nlohmann::json;

class salvager : public nlohmann::json_sax<json> {
public:
    json root;
    std::size_t error_at = 0;  // the byte where the parser gave up

    bool null() override { return put(nullptr); }
    bool boolean(bool v) override { return put(v); }
    bool number_integer(number_integer_t v) override { return put(v); }
    bool number_unsigned(number_unsigned_t v) override { return put(v); }
    bool number_float(number_float_t v, const string_t&) override { return put(v); }
    bool string(string_t& v) override { return put(v); }
    bool binary(binary_t& v) override { return put(json::binary(v)); }
    bool start_object(std::size_t) override { return open(json::object()); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(json::array()); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override {
        _key = k;
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
        error_at = position;
        // A container still open below a top-level field is incomplete: dropped whole.
        if (_stack.size() >= 3) {
            json& field = *_stack[1];
            if (field.is_object()) {
                field.erase(_keys[2]);
            } else if (field.is_array() && !field.empty()) {
                field.erase(field.size() - 1);
            }
        }
        return false;
    }

private:
    // Adds `v` where the parser is; its address stays valid while it is
    // open (nothing is added to its parent until it is closed).
    json* add(json v) {
        if (_stack.empty()) {
            root = std::move(v);
            return &root;
        }
        json& top = *_stack.back();
        if (top.is_object()) {
            return &(top[_key] = std::move(v));
        }
        top.push_back(std::move(v));
        return &top.back();
    }
    bool put(json v) {
        add(std::move(v));
        return true;
    }
    bool open(json v) {
        std::string key = _stack.empty() || !_stack.back()->is_object() ? std::string() : _key;
        _stack.push_back(add(std::move(v)));
        _keys.push_back(std::move(key));
        return true;
    }
    bool close() {
        _stack.pop_back();
        _keys.pop_back();
        return true;
    }

    std::vector<json*> _stack;
    std::vector<std::string> _keys;  // the key each open container was added under
    std::string _key;
};

// Each field on its own: a wrong type loses that field, not the others.
host_record host_from_json(const json& j, std::string& problem) {
    host_record h;
    auto field = [&](const char* key, auto read) {
        if (!j.contains(key)) {
            return;
        }
        try {
            read(j.at(key));
        } catch (const std::exception& e) {
            problem += std::string(problem.empty() ? "" : "; ") + key + " unreadable";
        }
    };
    if (!j.is_object()) {
        problem = "not a JSON object";
        return h;
    }
    field("nft_table", [&](const json& v) { h.nft_table = v.get<bool>(); });
    field("sysctls", [&](const json& v) { h.sysctls = v.get<std::map<std::string, std::string>>(); });
    field("networks", [&](const json& v) { h.networks = v.get<std::map<std::string, json>>(); });
    field("rules", [&](const json& v) { h.rules = v.get<std::vector<json>>(); });
    field("routes", [&](const json& v) { h.routes = v.get<std::vector<json>>(); });
    field("nft_ruleset", [&](const json& v) { h.nft_ruleset = v.get<std::string>(); });
    field("nft_listing", [&](const json& v) { h.nft_listing = v.get<std::string>(); });
    return h;
}

}  // namespace

std::string host_text(const host_record& h) {
    nlohmann::ordered_json j;
    j["nft_table"] = h.nft_table;
    j["sysctls"] = h.sysctls;
    j["networks"] = nlohmann::ordered_json(json(h.networks));
    j["rules"] = nlohmann::ordered_json(json(h.rules));
    j["routes"] = nlohmann::ordered_json(json(h.routes));
    j["nft_ruleset"] = h.nft_ruleset;
    if (!h.nft_listing.empty()) {  // only an older moat's, until the next commit clears it
        j["nft_listing"] = h.nft_listing;
    }
    return j.dump(2) + "\n";
}

host_reading host_from_text(const std::string& text) {
    host_reading out;
    salvager s;
    bool ok = json::sax_parse(text, &s);
    if (!ok) {
        out.problem = text.empty() ? "it is empty" : not_json(s.error_at, text.size());
    }
    std::string field_problem;
    out.record = host_from_json(s.root, field_problem);
    if (out.problem.empty()) {
        out.problem = field_problem;
    }
    return out;
}

host_reading store::read_host() const {
    std::string path = _dir + "/host.json";
    if (!sys::path_exists(path)) {
        return {};
    }
    std::string text;
    try {
        text = sys::read_file(path);
    } catch (const std::exception& e) {
        return {{}, std::string("unreadable: ") + e.what()};
    }
    return host_from_text(text);
}

host_record store::host() const {
    auto r = read_host();
    if (!r.problem.empty()) {
        throw moat::error(_dir + "/host.json is damaged (" + r.problem +
                          "): `moat down` removes what it can find by name");
    }
    return r.record;
}

void store::save_host(const host_record& h) {
    std::string path = _dir + "/host.json";
    if (h.empty()) {
        if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
            throw sys::errno_error("removing " + path);
        }
        return;
    }
    sys::write_file_atomic(path, host_text(h), 0600);
}

}  // namespace moat::state
