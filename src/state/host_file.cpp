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

#include <fcntl.h>
#include <sys/stat.h>
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

namespace {

// Which file is at `path` now, and in what version: a write of host.json
// is a rename of a new file over it (another inode); a change in place
// (a person's editor, a test damaging it) moves its size or times.
bool same_file(const struct stat& st, std::uint64_t dev, std::uint64_t ino, std::uint64_t size, std::int64_t mtime_ns,
               std::int64_t ctime_ns) {
    return st.st_dev == dev && st.st_ino == ino && static_cast<std::uint64_t>(st.st_size) == size &&
           st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == mtime_ns &&
           st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec == ctime_ns;
}

}  // namespace

// Parsed once per version of the file: a CNI ADD asks for host.json about
// seven times (networks, sysctls, routing, the table's flag and script),
// and at 100 pods its script alone is 89 kB of JSON string (0.5-0.7 ms a
// parse on the benchmark machine). The file's identity is checked with a
// stat every time, so a store never acts on a version another command
// replaced; under the state lock only this store writes it anyway.
host_reading store::read_host() const {
    std::string path = _dir + "/host.json";
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) {
        _host_cache.reset();
        if (errno == ENOENT) {
            return {};
        }
        return {{}, std::string("unreadable: ") + sys::errno_error("stat " + path).what()};
    }
    if (_host_cache && same_file(st, _host_cache->dev, _host_cache->ino, _host_cache->size, _host_cache->mtime_ns,
                                 _host_cache->ctime_ns)) {
        return _host_cache->reading;
    }
    _host_cache.reset();
    sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return {};  // removed since the stat
        }
        return {{}, std::string("unreadable: ") + sys::errno_error("reading " + path).what()};
    }
    std::string text;
    try {
        // The identity of what is read: the open file's, not the path's.
        sys::check(::fstat(fd.get(), &st), "stat " + path);
        text = sys::read_all(fd.get(), "reading " + path);
    } catch (const std::exception& e) {
        return {{}, std::string("unreadable: ") + e.what()};
    }
    auto reading = host_from_text(text);
    remember_host(st, reading);
    return reading;
}

void store::remember_host(const struct stat& st, const host_reading& reading) const {
    _host_cache = host_snapshot{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                                static_cast<std::uint64_t>(st.st_size),
                                st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                                st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec, reading};
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
        _host_cache.reset();
        if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
            throw sys::errno_error("removing " + path);
        }
        return;
    }
    _host_cache.reset();
    sys::write_file_atomic(path, host_text(h), 0600);
    // What was just written is what the next read_host() would parse. The
    // lock keeps other writers out, so the file at the path is this one.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        remember_host(st, {h, ""});
    }
}

}  // namespace moat::state
