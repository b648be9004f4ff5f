#include "state/store.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/hash.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace moat::state {

// Records describe kernel objects and processes, which a power loss or a
// reboot destroys as well; what must survive is a crash of moat itself,
// and the page cache already does. So no fsync: it cost 3-4 ms per record
// on a disk-backed state directory.
constexpr bool sync_records = false;

store::store(std::string dir) : _dir(std::move(dir)) {
    sys::make_dirs(_dir + "/containers", 0700);
    ::chmod(_dir.c_str(), 0700);
}

sys::unique_fd store::lock() {
    std::string path = _dir + "/lock";
    sys::unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) {
        throw sys::errno_error("opening " + path);
    }
    while (::flock(fd.get(), LOCK_EX) < 0) {
        if (errno != EINTR) {
            throw sys::errno_error("locking " + path);
        }
    }
    return fd;
}

std::string store::instance_id() const {
    std::error_code ec;
    std::string canon = std::filesystem::weakly_canonical(_dir, ec).string();
    if (ec) {
        canon = _dir;
    }
    return sys::fnv1a_hex(canon).substr(0, 12);
}

std::string store::container_dir(const std::string& name) const { return _dir + "/containers/" + name; }

nlohmann::json to_json(const container_record& r) {
    return {{"name", r.name},
            {"origin", r.origin},
            {"source", r.source},
            {"config_hash", r.config_hash},
            {"status", r.status},
            {"init_pid", r.init.pid},
            {"init_start_time", r.init.start_time},
            {"cgroup", r.cgroup},
            {"host_if", r.host_if},
            {"uid_base", r.uid_base ? nlohmann::json(*r.uid_base) : nlohmann::json()},
            {"spec", r.spec}};
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
    r.host_if = j.value("host_if", "");
    if (auto it = j.find("uid_base"); it != j.end() && it->is_number_unsigned()) {
        r.uid_base = it->get<std::uint32_t>();
    }
    if (j.contains("spec")) {
        r.spec = j["spec"];
    }
    return r;
}

std::optional<container_record> store::load(const std::string& name) const {
    std::string path = container_dir(name) + "/record.json";
    if (!sys::path_exists(path)) {
        return std::nullopt;
    }
    try {
        return record_from_json(nlohmann::json::parse(sys::read_file(path)));
    } catch (const nlohmann::json::exception& e) {
        throw moat::error("reading " + path + ": " + e.what());
    }
}

std::vector<container_record> store::containers() const {
    std::vector<container_record> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(_dir + "/containers", ec)) {
        if (auto r = load(entry.path().filename().string())) {
            out.push_back(std::move(*r));
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

void store::save(const container_record& r) {
    std::string dir = container_dir(r.name);
    sys::make_dirs(dir, 0700);
    sys::write_file_atomic(dir + "/record.json", to_json(r).dump(2) + "\n", 0600, sync_records);
}

store::~store() {
    if (!_removed.empty()) {
        collect();
    }
}

void store::collect() noexcept {
    try {
        auto unrecorded = [this] {
            std::vector<std::string> out;
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator(_dir + "/containers", ec)) {
                if (e.is_directory(ec) && !sys::path_exists(e.path().string() + "/record.json")) {
                    out.push_back(e.path().string());
                }
            }
            return out;
        };
        if (unrecorded().empty()) {
            return;
        }
        auto held = lock();
        for (const auto& dir : unrecorded()) {
            sys::remove_tree(dir);
        }
        _removed.clear();
    } catch (...) {
        // Left for the next `down`, which collects again.
    }
}

void store::remove_if_empty() {
    collect();
    std::error_code ec;
    if (sys::path_exists(_dir + "/host.json") ||
        !std::filesystem::is_empty(_dir + "/containers", ec) || ec) {
        return;
    }
    ::rmdir((_dir + "/containers").c_str());
    ::unlink((_dir + "/lock").c_str());
    ::rmdir(_dir.c_str());
}

nlohmann::json store::services(const std::string& name) const {
    std::string path = container_dir(name) + "/logs/services.json";
    try {
        return nlohmann::json::parse(sys::read_file(path)).value("services", nlohmann::json::object());
    } catch (const std::exception&) {
        return nlohmann::json::object();
    }
}

void store::remove(const std::string& name) {
    std::string dir = container_dir(name);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().filename() != "logs") {
            sys::remove_tree(e.path().string());
        }
    }
    ::rmdir(dir.c_str());  // done unless logs/ is there
    _removed.insert(name);
}

host_record store::host() const {
    host_record h;
    std::string path = _dir + "/host.json";
    if (!sys::path_exists(path)) {
        return h;
    }
    auto j = nlohmann::json::parse(sys::read_file(path));
    h.nft_table = j.value("nft_table", false);
    h.nft_ruleset = j.value("nft_ruleset", "");
    h.nft_listing = j.value("nft_listing", "");
    if (j.contains("networks")) {
        h.networks = j.at("networks").get<std::map<std::string, nlohmann::json>>();
    }
    h.routes = j.value("routes", std::vector<nlohmann::json>{});
    h.rules = j.value("rules", std::vector<nlohmann::json>{});
    if (j.contains("sysctls")) {
        h.sysctls = j.at("sysctls").get<std::map<std::string, std::string>>();
    }
    return h;
}

void store::save_host(const host_record& h) {
    std::string path = _dir + "/host.json";
    if (h.empty()) {
        ::unlink(path.c_str());
        return;
    }
    nlohmann::json j = {{"nft_table", h.nft_table}, {"nft_ruleset", h.nft_ruleset}, {"nft_listing", h.nft_listing},
                        {"networks", h.networks}, {"sysctls", h.sysctls}, {"routes", h.routes}, {"rules", h.rules}};
    sys::write_file_atomic(path, j.dump(2) + "\n", 0600, sync_records);
}

}  // namespace moat::state
