#include "container/users.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/hash.hpp"

#include <cstdint>
#include <sstream>

namespace moat::container {

namespace {

constexpr std::uint32_t first_block = 0x0008;  // 0x00080000
constexpr std::uint32_t end_block = 0x6FFF;    // 0x6FFF0000, exclusive
constexpr std::uint32_t tunnel_block = 0x6D74;

}  // namespace

std::uint32_t pick_uid_base(const std::string& key, const std::function<bool(std::uint32_t)>& taken) {
    const std::uint32_t blocks = end_block - first_block;
    const auto start = static_cast<std::uint32_t>(sys::fnv1a(key) % blocks);
    for (std::uint32_t i = 0; i < blocks; ++i) {
        std::uint32_t block = first_block + (start + i) % blocks;
        std::uint32_t base = block << 16;
        if (block != tunnel_block && !taken(base)) {
            return base;
        }
    }
    throw moat::error("no free uid range left for privateUsers = \"pick\"");
}

void uid_ranges::hold(const std::string& name, std::uint32_t base) {
    auto [it, added] = _by_name.try_emplace(name, base);
    if (!added) {
        _bases.erase(_bases.find(it->second));
        it->second = base;
    }
    _bases.insert(base);
}

bool uid_ranges::held_by_other(std::uint32_t base, const std::string& name) const {
    auto n = _bases.count(base);
    auto own = _by_name.find(name);
    return n > (own != _by_name.end() && own->second == base ? 1u : 0u);
}

std::optional<std::uint32_t> uid_base_in_cgroup(const std::string& cgroup) {
    std::string procs;
    try {
        procs = sys::read_file(cgroup + "/cgroup.procs");
    } catch (const std::exception&) {
        return std::nullopt;  // removed meanwhile
    }
    std::istringstream pids(procs);
    for (std::string pid; pids >> pid;) {
        std::string map;
        try {
            map = sys::read_file("/proc/" + pid + "/uid_map");
        } catch (const std::exception&) {
            continue;  // exited meanwhile
        }
        std::istringstream line(map);
        std::uint64_t inside = 1, outside = 0, count = 0;
        if (!(line >> inside >> outside >> count) || inside != 0 || outside == 0 || outside > UINT32_MAX) {
            return std::nullopt;
        }
        return static_cast<std::uint32_t>(outside);
    }
    return std::nullopt;
}

void write_id_maps(pid_t pid, std::uint32_t base) {
    std::string map = "0 " + std::to_string(base) + " " + std::to_string(id_range) + "\n";
    std::string dir = "/proc/" + std::to_string(pid) + "/";
    try {
        sys::write_file(dir + "uid_map", map);
        sys::write_file(dir + "gid_map", map);
    } catch (...) {
        add_context("mapping the container's users to " + std::to_string(base) + "-" +
                    std::to_string(base + id_range - 1));
    }
}

}  // namespace moat::container
