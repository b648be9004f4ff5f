// Container records: reading every entry of containers/ without letting one
// bad entry hide (or take down) the others, and writing them so that a
// reader never sees half of one.
#include "state/store.hpp"

#include "config/names.hpp"
#include "plan/pipes.hpp"
#include "plan/plan.hpp"
#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/hash.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace moat::state {

store::store(std::string dir) : _dir(std::move(dir)) {}

std::string store::instance_id() const {
    // Computed once: resolving the path is a stat and a readlink per
    // component, and a `run` asked about six times (issue 17). The state
    // directory of a command does not move while it runs.
    if (_instance_id.empty()) {
        std::error_code ec;
        std::string canon = std::filesystem::weakly_canonical(_dir, ec).string();
        if (ec) {
            canon = _dir;
        }
        _instance_id = sys::fnv1a_hex(canon).substr(0, 12);
    }
    return _instance_id;
}

std::string store::container_dir(const std::string& name) const { return _dir + "/containers/" + name; }

bool container_name_ok(const std::string& name) {
    return !config::name_problem(name) || name == plan::tunnels_container || name == plan::host_pipes_container;
}

nlohmann::json to_json(const container_record& r) {
    nlohmann::json j = {{"name", r.name},
            {"origin", r.origin},
            {"source", r.source},
            {"config_hash", r.config_hash},
            {"status", r.status},
            {"init_pid", r.init.pid},
            {"init_start_time", r.init.start_time},
            {"cgroup", r.cgroup},
            {"instance", r.instance},
            {"host_if", r.host_if},
            {"uid_base", r.uid_base ? nlohmann::json(*r.uid_base) : nlohmann::json()},
            {"spec", r.spec}};
    if (!r.cni.is_null()) {
        j["cni"] = r.cni;
    }
    return j;
}

container_record record_from_json(const nlohmann::json& j) {
    container_record r;
    r.name = j.value("name", "");
    r.origin = j.value("origin", "file");
    r.source = j.value("source", "");
    r.config_hash = j.value("config_hash", "");
    r.status = j.value("status", "starting");
    r.init.pid = j.value("init_pid", 0);
    r.init.start_time = j.value("init_start_time", std::uint64_t{0});
    r.cgroup = j.value("cgroup", "");
    r.instance = j.value("instance", "");
    r.host_if = j.value("host_if", "");
    if (auto it = j.find("uid_base"); it != j.end() && it->is_number_unsigned()) {
        r.uid_base = it->get<std::uint32_t>();
    }
    if (j.contains("spec")) {
        r.spec = j["spec"];
    }
    if (auto it = j.find("cni"); it != j.end() && it->is_object()) {
        r.cni = *it;
    }
    return r;
}

std::string not_json(std::size_t byte, std::size_t size) {
    return "it is not valid JSON from byte " + std::to_string(byte) + " of " + std::to_string(size) + ", truncated?";
}

namespace {

// A cgroup a record of `name` may name: moat's layout, <mount>/moat/<instance>/<name>.
bool cgroup_ok(const std::string& cgroup, const std::string& name) {
    if (cgroup.empty()) {
        return true;
    }
    std::filesystem::path p(cgroup);
    return p.is_absolute() && p.filename() == name && p.parent_path().parent_path().filename() == "moat";
}

bool is_string(const nlohmann::json& j, const char* key) { return j.contains(key) && j[key].is_string(); }

}  // namespace

std::optional<std::string> record_problem(const nlohmann::json& j, const std::string& name) {
    if (!j.is_object()) {
        return "not a JSON object";
    }
    if (!is_string(j, "name")) {
        return "it has no name";
    }
    if (j["name"] != name) {
        return "it names '" + j["name"].get<std::string>() + "', not its directory's name";
    }
    for (const char* key : {"cgroup", "host_if"}) {
        if (!is_string(j, key)) {
            return std::string("it has no ") + key;
        }
    }
    if (!j.contains("init_pid") || !j["init_pid"].is_number_integer() || !j.contains("init_start_time") ||
        !j["init_start_time"].is_number_unsigned()) {
        return "it does not say its init's process";
    }
    for (const char* key : {"origin", "source", "config_hash", "status", "instance"}) {
        if (j.contains(key) && !j[key].is_string()) {
            return std::string("its ") + key + " is not a string";
        }
    }
    std::string origin = j.value("origin", "file");
    if (origin != "file" && origin != "run" && origin != "cni") {
        return "its origin is none of \"file\", \"run\" and \"cni\"";
    }
    if (origin == "cni") {
        const auto& c = j.contains("cni") ? j["cni"] : nlohmann::json();
        for (const char* key : {"network", "container_id", "ifname", "netns", "instance"}) {
            if (!c.is_object() || !c.contains(key) || !c[key].is_string()) {
                return std::string("it is a CNI attachment's but does not say its ") + key;
            }
        }
    }
    if (!cgroup_ok(j["cgroup"], name)) {
        return "its cgroup " + j["cgroup"].get<std::string>() + " is not moat's cgroup for " + name;
    }
    std::string host_if = j["host_if"];
    if (!host_if.empty() && host_if != plan::host_link_name(name)) {
        return "its veth " + host_if + " is not moat's veth for " + name;
    }
    if (!j.contains("spec") || !j["spec"].is_object()) {
        return "it has no spec";
    }
    try {
        auto p = plan::plan_from_json(j["spec"]);
        if (p.name != name || p.host_if != host_if) {
            return "its spec is of another container";
        }
    } catch (const std::exception& e) {
        return std::string("its spec is unreadable: ") + e.what();
    }
    return std::nullopt;
}

namespace {

// What a damaged record still says in a usable form.
void salvage(damaged_record& d, const nlohmann::json& j) {
    if (!j.is_object()) {
        return;
    }
    if (j.contains("init_pid") && j["init_pid"].is_number_integer() && j.contains("init_start_time") &&
        j["init_start_time"].is_number_unsigned()) {
        d.init = {j["init_pid"].get<int>(), j["init_start_time"].get<std::uint64_t>()};
    }
    if (is_string(j, "cgroup") && cgroup_ok(j["cgroup"], d.name)) {
        d.cgroup = j["cgroup"];
    }
    if (j.contains("uid_base") && j["uid_base"].is_number_unsigned()) {
        d.uid_base = j["uid_base"].get<std::uint32_t>();
    }
}

enum class entry_kind { gone, intact, damaged };

// Reads containers/<name>/record.json into `rec` or `dmg`.
entry_kind read_entry(const std::string& dir, const std::string& name, container_record& rec, damaged_record& dmg) {
    dmg.name = name;
    dmg.file = "containers/" + name + "/record.json";
    std::string path = dir + "/record.json";
    std::string text;
    try {
        text = sys::read_file(path);
    } catch (const std::system_error& e) {
        if (e.code().value() == ENOENT && !sys::path_exists(dir)) {
            return entry_kind::gone;  // removed while we looked
        }
        dmg.problem = e.code().value() == ENOENT ? "there is no record.json" : std::string("unreadable: ") + e.what();
        return entry_kind::damaged;
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        dmg.problem = text.empty() ? "it is empty" : not_json(e.byte, text.size());
        return entry_kind::damaged;
    }
    if (auto problem = record_problem(j, name)) {
        dmg.problem = *problem;
        salvage(dmg, j);
        return entry_kind::damaged;
    }
    rec = record_from_json(j);
    return entry_kind::intact;
}

}  // namespace

listing store::scan() const {
    listing out;
    std::string root = _dir + "/containers";
    sys::unique_fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return out;
        }
        throw sys::errno_error("reading " + root);
    }
    DIR* d = ::fdopendir(fd.get());
    if (!d) {
        throw sys::errno_error("reading " + root);
    }
    fd.release();
    std::vector<std::pair<std::string, unsigned char>> entries;
    while (dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            entries.emplace_back(e->d_name, e->d_type);
        }
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end());
    for (const auto& [name, type] : entries) {
        if (name[0] == '.' && (name.find(".new-") != std::string::npos || name.find(".gone-") != std::string::npos)) {
            continue;  // a container directory being made or removed
        }
        struct stat st {};
        std::string dir = root + "/" + name;
        if (container_name_ok(name) && ::lstat(dir.c_str(), &st) != 0) {
            continue;  // removed while we looked
        }
        if (!container_name_ok(name) || !S_ISDIR(st.st_mode)) {
            out.foreign.push_back("containers/" + name);
            continue;
        }
        if (removed_here(name)) {
            continue;  // only its logs, until the end of the command (remove())
        }
        container_record rec;
        damaged_record dmg;
        switch (read_entry(dir, name, rec, dmg)) {
        case entry_kind::intact:
            out.records.push_back(std::move(rec));
            break;
        case entry_kind::damaged:
            out.damaged.push_back(std::move(dmg));
            break;
        case entry_kind::gone:
            break;
        }
    }
    return out;
}

std::vector<container_record> store::containers() const { return scan().records; }

std::optional<container_record> store::load(const std::string& name) const {
    if (!container_name_ok(name) || !has(name) || removed_here(name)) {
        return std::nullopt;
    }
    container_record rec;
    damaged_record dmg;
    switch (read_entry(container_dir(name), name, rec, dmg)) {
    case entry_kind::intact:
        return rec;
    case entry_kind::damaged:
        throw moat::error(_dir + "/" + dmg.file + " is damaged (" + dmg.problem + ")");
    case entry_kind::gone:
        break;
    }
    return std::nullopt;
}

bool store::has(const std::string& name) const {
    struct stat st {};
    return container_name_ok(name) && ::lstat(container_dir(name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void store::save(const container_record& r) {
    if (!container_name_ok(r.name)) {
        throw moat::error("refusing to record a container named '" + r.name + "'");
    }
    std::string dir = container_dir(r.name);
    std::string text = to_json(r).dump(2) + "\n";
    if (has(r.name)) {
        sys::write_file_atomic(dir + "/record.json", text, 0600);
        return;
    }
    // A new container's directory appears with its record in it: made
    // under a temporary name, renamed into place.
    std::string root = _dir + "/containers";
    std::string tmp = root + "/." + r.name + ".new-" + sys::random_suffix();
    sys::check(::mkdir(tmp.c_str(), 0700), "creating " + tmp);
    try {
        sys::write_file_atomic(tmp + "/record.json", text, 0600);
        sys::check(::rename(tmp.c_str(), dir.c_str()), "renaming " + tmp + " to " + dir);
    } catch (...) {
        sys::remove_tree(tmp);
        throw;
    }
    sys::unique_fd rfd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!rfd || ::fsync(rfd.get()) < 0) {
        throw sys::errno_error("syncing " + root);
    }
}

std::string store::drop_record(const std::string& name) {
    if (!container_name_ok(name)) {
        throw moat::error("refusing to remove containers/" + name + ": not a container's directory");
    }
    std::string dir = container_dir(name);
    // The record first: from then on the directory names nothing to stop.
    if (::unlink((dir + "/record.json").c_str()) < 0 && errno != ENOENT && errno != ENOTDIR) {
        throw sys::errno_error("removing " + dir + "/record.json");
    }
    return dir;
}

void store::remove(const std::string& name) {
    std::string dir = drop_record(name);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().filename() != "logs") {
            sys::remove_tree(e.path().string());
        }
    }
    ::rmdir(dir.c_str());  // done unless logs/ is there
    _removed.insert(name);
}

void store::remove_with_logs(const std::string& name) {
    sys::remove_tree(drop_record(name));
    _removed.erase(name);
}

nlohmann::json store::services(const std::string& name) const {
    std::string path = container_dir(name) + "/logs/services.json";
    try {
        return nlohmann::json::parse(sys::read_file(path)).value("services", nlohmann::json::object());
    } catch (const std::exception&) {
        return nlohmann::json::object();
    }
}

bool store::removed_here(const std::string& name) const {
    return _removed.count(name) && !sys::path_exists(container_dir(name) + "/record.json");
}

store::~store() {
    if (_removed.empty()) {
        return;
    }
    // The command's lock is released by now (a state_lock never outlives its
    // store); take it again only if the directory is still there.
    try {
        auto held = lock_existing();
        if (held.held()) {
            collect_locked();
        }
    } catch (...) {
        // Left for the next `down`: a directory without a record.
    }
}

void store::collect_locked() {
    for (const auto& name : _removed) {
        std::string dir = container_dir(name);
        if (has(name) && !sys::path_exists(dir + "/record.json")) {
            sys::remove_tree(dir);
        }
    }
    _removed.clear();
}

}  // namespace moat::state
