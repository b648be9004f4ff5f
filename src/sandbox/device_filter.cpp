#include "sandbox/device_filter.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace moat::sandbox {

static_assert(device_access::mknod == BPF_DEVCG_ACC_MKNOD);
static_assert(device_access::read == BPF_DEVCG_ACC_READ);
static_assert(device_access::write == BPF_DEVCG_ACC_WRITE);

namespace {

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

std::uint64_t to_u64(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The last lines of a verifier log, on one line: the reason is at its end
// (before the statistics), and a whole trace would bury it.
std::string log_tail(const std::vector<char>& log) {
    std::istringstream in(std::string(log.data(), ::strnlen(log.data(), log.size())));
    std::deque<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line.rfind("processed ", 0) == 0 || line.rfind("verification time", 0) == 0 ||
            line.rfind("stack depth", 0) == 0) {
            continue;
        }
        // The trace pads each instruction to a column: one space will do.
        line.erase(std::unique(line.begin(), line.end(), [](char a, char b) { return a == ' ' && b == ' '; }),
                   line.end());
        lines.push_back(std::move(line));
        if (lines.size() > 3) {
            lines.pop_front();
        }
    }
    std::string out;
    for (const auto& line : lines) {
        out += (out.empty() ? "" : " | ") + line;
    }
    return out;
}

}  // namespace

sys::unique_fd load_device_program(const std::vector<bpf_insn>& prog) {
    // Any license string loads: it only gates GPL-only helpers, and the
    // filter calls no helper at all. "GPL" as crun does, so a helper added
    // for debugging (bpf_trace_printk) would not be refused.
    static constexpr char license[] = "GPL";
    auto attempt = [&](char* log_buf, std::uint32_t log_size) {
        bpf_attr attr{};
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.expected_attach_type = BPF_CGROUP_DEVICE;
        attr.insns = to_u64(prog.data());
        attr.insn_cnt = static_cast<std::uint32_t>(prog.size());
        attr.license = to_u64(license);
        std::strncpy(attr.prog_name, "moat_devices", sizeof attr.prog_name - 1);
        attr.log_buf = to_u64(log_buf);
        attr.log_size = log_size;
        attr.log_level = log_buf ? 1 : 0;
        return static_cast<int>(bpf(BPF_PROG_LOAD, attr));
    };
    int fd = attempt(nullptr, 0);
    if (fd >= 0) {
        return sys::unique_fd(fd);
    }
    int err = errno;
    // Again with the verifier's log, only now: a log at level 1 traces
    // every instruction, and a too small buffer is an error of its own.
    std::vector<char> log(256 * 1024, '\0');
    if (int again = attempt(log.data(), static_cast<std::uint32_t>(log.size())); again >= 0) {
        return sys::unique_fd(again);  // a transient failure (ENOMEM, EAGAIN)
    }
    std::string tail = log_tail(log);
    throw sys::errno_error("loading the eBPF program (" + std::to_string(prog.size()) + " instructions" +
                               (tail.empty() ? std::string(")") : "; verifier: " + tail + ")"),
                           err);
}

namespace {

// The cgroup's path for messages, from /proc/self/fd.
std::string describe(int dir_fd) {
    std::array<char, PATH_MAX> buf{};
    std::string link = "/proc/self/fd/" + std::to_string(dir_fd);
    ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : "fd " + std::to_string(dir_fd);
}

// The ids of the device programs attached to the cgroup itself.
std::vector<std::uint32_t> attached_ids(int cgroup_dir_fd) {
    std::vector<std::uint32_t> ids(64);
    bpf_attr attr{};
    attr.query.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = to_u64(ids.data());
    attr.query.prog_cnt = static_cast<std::uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, attr) < 0) {
        throw sys::errno_error("BPF_PROG_QUERY");
    }
    ids.resize(std::min<std::size_t>(attr.query.prog_cnt, ids.size()));
    return ids;
}

// Detaches program `id` from the cgroup. A program attached with
// BPF_F_ALLOW_MULTI can only be named by an fd of it; one gone meanwhile
// (ENOENT) is fine.
void detach(int cgroup_dir_fd, std::uint32_t id) {
    std::string what = "detaching the previous device filter (program " + std::to_string(id) + ")";
    bpf_attr get{};
    get.prog_id = id;
    sys::unique_fd prog(static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, get)));  // O_CLOEXEC by the kernel
    if (!prog) {
        if (errno == ENOENT) {
            return;
        }
        throw sys::errno_error(what);
    }
    bpf_attr attr{};
    attr.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, attr) < 0 && errno != ENOENT) {
        throw sys::errno_error(what);
    }
}

}  // namespace

std::vector<device_rule> default_device_rules() {
    constexpr std::uint32_t rw = device_access::read | device_access::write;
    auto c = [&](std::uint32_t major, std::optional<std::uint32_t> minor) {
        return device_rule{device_kind::character, major, minor, rw};
    };
    return {
        c(1, 3),              // /dev/null
        c(1, 5),              // /dev/zero
        c(1, 7),              // /dev/full
        c(1, 8),              // /dev/random
        c(1, 9),              // /dev/urandom
        c(5, 0),              // /dev/tty: the process's controlling terminal
        c(5, 2),              // /dev/ptmx (and devpts' own ptmx node)
        c(136, std::nullopt), // /dev/pts/*
    };
}

device_rule tun_device_rule() {
    return {device_kind::character, 10, 200, device_access::read | device_access::write};
}

std::uint32_t parse_device_access(std::string_view modifier) {
    std::uint32_t access = 0;
    for (char c : modifier) {
        switch (c) {
            case 'r': access |= device_access::read; break;
            case 'w': access |= device_access::write; break;
            case 'm': access |= device_access::mknod; break;
            default:
                throw moat::error("device access \"" + std::string(modifier) +
                                        "\": only the letters r, w and m are allowed");
        }
    }
    if (access == 0) {
        throw moat::error("device access is empty: give some of r, w and m");
    }
    return access;
}

device_rule device_rule_for(const std::string& host_node_path, std::string_view modifier) {
    std::uint32_t access = parse_device_access(modifier);
    struct stat st {};
    if (::stat(host_node_path.c_str(), &st) < 0) {
        throw sys::errno_error("reading the device node " + host_node_path);
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        throw moat::error("allowed device " + host_node_path +
                                " is not a device node (not a character or block device)");
    }
    return {S_ISCHR(st.st_mode) ? device_kind::character : device_kind::block, ::major(st.st_rdev),
            ::minor(st.st_rdev), access};
}

std::string to_string(const device_rule& r) {
    auto number = [](const std::optional<std::uint32_t>& n) { return n ? std::to_string(*n) : std::string("*"); };
    std::string out = r.kind == device_kind::character ? "c" : r.kind == device_kind::block ? "b" : "a";
    out += " " + number(r.major) + ":" + number(r.minor) + " ";
    out += (r.access & device_access::read) ? "r" : "";
    out += (r.access & device_access::write) ? "w" : "";
    out += (r.access & device_access::mknod) ? "m" : "";
    return out;
}

namespace {

struct loaded_program {
    sys::unique_fd fd;
    std::uint32_t id = 0;
};

loaded_program load_with_id(const std::vector<bpf_insn>& insns) {
    loaded_program p{load_device_program(insns), 0};
    bpf_prog_info info{};
    bpf_attr attr{};
    attr.info.bpf_fd = static_cast<std::uint32_t>(p.fd.get());
    attr.info.info_len = sizeof info;
    attr.info.info = to_u64(&info);
    if (bpf(BPF_OBJ_GET_INFO_BY_FD, attr) < 0) {
        throw sys::errno_error("BPF_OBJ_GET_INFO_BY_FD");
    }
    p.id = info.id;
    return p;
}

// device_program_reuse's programs, by their instructions' bytes. Entries
// are never erased while a scope lives, so a pointer to one stays valid.
struct reuse_state {
    std::mutex lock;
    int scopes = 0;
    std::map<std::string, loaded_program> programs;
};
reuse_state& reuse() {
    static reuse_state state;
    return state;
}

// The program for `insns`: the scope's, or `own` loaded for this call.
const loaded_program& program_for(const std::vector<bpf_insn>& insns, loaded_program& own) {
    auto& r = reuse();
    std::lock_guard hold(r.lock);
    if (r.scopes == 0) {
        own = load_with_id(insns);
        return own;
    }
    std::string key(reinterpret_cast<const char*>(insns.data()), insns.size() * sizeof(bpf_insn));
    auto it = r.programs.find(key);
    if (it == r.programs.end()) {
        it = r.programs.emplace(std::move(key), load_with_id(insns)).first;
    }
    return it->second;
}

}  // namespace

device_program_reuse::device_program_reuse() {
    std::lock_guard hold(reuse().lock);
    ++reuse().scopes;
}

device_program_reuse::~device_program_reuse() {
    std::lock_guard hold(reuse().lock);
    if (--reuse().scopes == 0) {
        reuse().programs.clear();  // the attachments hold their own references
    }
}

void attach_device_filter(int cgroup_dir_fd, const std::vector<device_rule>& rules) {
    try {
        loaded_program own;  // closed at the end of this call, when not reused
        const loaded_program* prog = &program_for(device_filter_program(rules), own);
        auto before = attached_ids(cgroup_dir_fd);
        // Attaching a program already attached there fails (EEXIST): it is kept.
        if (std::find(before.begin(), before.end(), prog->id) == before.end()) {
            bpf_attr attr{};
            attr.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
            attr.attach_bpf_fd = static_cast<std::uint32_t>(prog->fd.get());
            attr.attach_type = BPF_CGROUP_DEVICE;
            attr.attach_flags = BPF_F_ALLOW_MULTI;  // not 0: see the header
            if (bpf(BPF_PROG_ATTACH, attr) < 0) {
                throw sys::errno_error("BPF_PROG_ATTACH");
            }
        }
        // Until the old programs are gone both lists apply: stricter than
        // either, never looser.
        for (std::uint32_t id : before) {
            if (id != prog->id) {
                detach(cgroup_dir_fd, id);
            }
        }
    } catch (...) {
        add_context("attaching the device filter to cgroup " + describe(cgroup_dir_fd));
    }
}

std::vector<std::uint32_t> attached_device_filters(int cgroup_dir_fd) {
    try {
        return attached_ids(cgroup_dir_fd);
    } catch (...) {
        add_context("listing the device filters of cgroup " + describe(cgroup_dir_fd));
    }
}

}  // namespace moat::sandbox
