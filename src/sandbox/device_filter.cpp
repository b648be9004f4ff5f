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
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace moat::sandbox {

static_assert(device_access::mknod == BPF_DEVCG_ACC_MKNOD);
static_assert(device_access::read == BPF_DEVCG_ACC_READ);
static_assert(device_access::write == BPF_DEVCG_ACC_WRITE);

namespace {

// The kernel's dev_t: 12 bits of major, 20 of minor (MINORBITS); the
// program is handed MAJOR()/MINOR() of it, so larger numbers never match.
constexpr std::uint32_t max_major = (1u << 12) - 1;
constexpr std::uint32_t max_minor = (1u << 20) - 1;

enum class reg : std::uint8_t { r0 = BPF_REG_0, r1 = BPF_REG_1, r2 = BPF_REG_2, r3 = BPF_REG_3,
                                r4 = BPF_REG_4, r5 = BPF_REG_5 };

// A tiny eBPF assembler for the handful of instructions the filter needs.
// Jumps only go forward, to labels bound later; their 16-bit offsets are
// resolved in finish(), which refuses one that does not fit.
class assembler {
public:
    using label = std::size_t;

    label new_label() {
        _labels.push_back(unbound);
        return _labels.size() - 1;
    }
    void bind(label l) { _labels.at(l) = _prog.size(); }

    // dst = *(u32 *)(base + off), zero-extended
    void load_u32(reg dst, reg base, std::int16_t off) { emit(BPF_LDX | BPF_MEM | BPF_W, dst, base, off, 0); }
    void mov(reg dst, reg src) { emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
    void mov(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, reg::r0, 0, imm); }
    void bit_and(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_AND | BPF_K, dst, reg::r0, 0, imm); }
    void shift_right(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_RSH | BPF_K, dst, reg::r0, 0, imm); }
    // if (u32)dst != imm: goto l
    void jump_if_not_equal(reg dst, std::uint32_t imm, label l) { jump(BPF_JNE, dst, imm, l); }
    // if (u32)dst & imm: goto l
    void jump_if_any_bit(reg dst, std::uint32_t imm, label l) { jump(BPF_JSET, dst, imm, l); }
    void exit() { emit(BPF_JMP | BPF_EXIT, reg::r0, reg::r0, 0, 0); }

    std::vector<bpf_insn> finish() {
        for (auto [at, l] : _fixups) {
            std::size_t target = _labels.at(l);
            if (target == unbound || target <= at || target - at - 1 > INT16_MAX) {
                throw std::logic_error("device filter: a jump to an unbound, earlier or too distant label");
            }
            _prog[at].off = static_cast<std::int16_t>(target - at - 1);
        }
        return std::move(_prog);
    }

private:
    static constexpr std::size_t unbound = std::numeric_limits<std::size_t>::max();

    void emit(int code, reg dst, reg src, std::int16_t off, std::int32_t imm) {
        bpf_insn i{};
        i.code = static_cast<std::uint8_t>(code);
        i.dst_reg = static_cast<std::uint8_t>(dst) & 0xf;
        i.src_reg = static_cast<std::uint8_t>(src) & 0xf;
        i.off = off;
        i.imm = imm;
        _prog.push_back(i);
    }
    // JMP32 (Linux 5.1) compares the low 32 bits: the context's fields are
    // u32, and an immediate is not sign-extended to 64 bits there.
    void jump(int op, reg dst, std::uint32_t imm, label l) {
        _fixups.emplace_back(_prog.size(), l);
        emit(BPF_JMP32 | op | BPF_K, dst, reg::r0, 0, static_cast<std::int32_t>(imm));
    }

    std::vector<bpf_insn> _prog;
    std::vector<std::size_t> _labels;
    std::vector<std::pair<std::size_t, label>> _fixups;
};

// Registers for the whole program: r1 is the context (struct
// bpf_cgroup_dev_ctx) on entry and is not written.
constexpr reg type_reg = reg::r2;    // BPF_DEVCG_DEV_BLOCK or _CHAR
constexpr reg access_reg = reg::r3;  // BPF_DEVCG_ACC_* bits asked for
constexpr reg major_reg = reg::r4;
constexpr reg minor_reg = reg::r5;

void check_rule(const device_rule& r) {
    if (r.access == 0 || (r.access & ~device_access::all) != 0) {
        throw moat::error("device rule " + to_string(r) + ": access must be a non-empty subset of rwm");
    }
    if ((r.major && *r.major > max_major) || (r.minor && *r.minor > max_minor)) {
        throw moat::error("device rule " + to_string(r) + ": no device has that number (major <= " +
                                std::to_string(max_major) + ", minor <= " + std::to_string(max_minor) + ")");
    }
}

// The rules allow; a request no rule allows is refused. So their order is
// free, and the program tests them as a tree: one group per device kind
// and refused access bits, in it one branch per major, in that one test per
// minor. Each test of a field is then made once, not once per rule (the
// default list: 34 instructions instead of 55), and every path the
// verifier follows ends at its own exit or reaches a group's end from the
// same tests. The verifier thus checks the program about once: for the
// default list, 211 instructions processed in 25 states before (a test per
// field per rule, each failure a state of its own), 0.3-0.4 ms of
// BPF_PROG_LOAD per container.
struct rule_group {
    device_kind kind;
    std::uint32_t refused;  // access bits a match must not ask for
    // major (max_major + 1 for any: tested last) -> minors (nullopt: any)
    std::map<std::uint32_t, std::vector<std::optional<std::uint32_t>>> majors;
    std::size_t rules = 0;
};

constexpr std::uint32_t any_major = max_major + 1;
constexpr std::size_t max_group_rules = 4096;

std::vector<rule_group> group_rules(const std::vector<device_rule>& rules) {
    std::vector<rule_group> groups;
    for (const auto& r : rules) {
        // Every bit asked for must be granted: O_RDWR asks for read and write.
        std::uint32_t refused = device_access::all & ~r.access;
        // A group's tests jump over all of it, at most INT16_MAX
        // instructions: a full group (4 per rule at most) starts another.
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) {
            return x.kind == r.kind && x.refused == refused && x.rules < max_group_rules;
        });
        if (g == groups.end()) {
            groups.push_back({r.kind, refused, {}, 0});
            g = groups.end() - 1;
        }
        g->majors[r.major.value_or(any_major)].push_back(r.minor);
        ++g->rules;
    }
    return groups;
}

// The minors of one major: a test each, "return 1" when one matches; falls
// through when none does. Stops at an "any minor": what would follow it is
// unreachable, which the verifier refuses.
void emit_minors(assembler& a, const std::vector<std::optional<std::uint32_t>>& minors) {
    for (const auto& minor : minors) {
        if (!minor) {
            a.mov(reg::r0, 1);
            a.exit();
            return;
        }
    }
    for (const auto& minor : minors) {
        auto next = a.new_label();
        a.jump_if_not_equal(minor_reg, *minor, next);
        a.mov(reg::r0, 1);
        a.exit();
        a.bind(next);
    }
}

// One group; falls through when nothing in it matches. Its fields are
// loaded from the context here, so no register is live where a group ends:
// however the previous group was left, the verifier sees one state.
void emit_group(assembler& a, const rule_group& g) {
    auto end = a.new_label();
    // access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
    a.load_u32(type_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, access_type));
    a.mov(access_reg, type_reg);
    a.bit_and(type_reg, 0xffff);
    a.shift_right(access_reg, 16);
    a.load_u32(major_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, major));
    a.load_u32(minor_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, minor));
    if (g.kind != device_kind::any) {
        a.jump_if_not_equal(type_reg, g.kind == device_kind::block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, end);
    }
    if (g.refused != 0) {
        a.jump_if_any_bit(access_reg, g.refused, end);
    }
    for (const auto& [major, minors] : g.majors) {
        if (major == any_major) {
            emit_minors(a, minors);  // the last branch: nothing follows in the group
            continue;
        }
        auto next = a.new_label();
        a.jump_if_not_equal(major_reg, major, next);
        emit_minors(a, minors);
        a.bind(next);
    }
    a.bind(end);
}

// A rule that matches every request makes the whole program "return 1".
bool allows_everything(const device_rule& r) {
    return r.kind == device_kind::any && !r.major && !r.minor && (device_access::all & ~r.access) == 0;
}

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

std::vector<bpf_insn> device_filter_program(const std::vector<device_rule>& rules) {
    assembler a;
    for (const auto& r : rules) {
        check_rule(r);
    }
    if (std::any_of(rules.begin(), rules.end(), allows_everything)) {
        a.mov(reg::r0, 1);  // "a *:* rwm": nothing else matters
        a.exit();
        return a.finish();
    }
    for (const auto& g : group_rules(rules)) {
        emit_group(a, g);
    }
    a.mov(reg::r0, 0);
    a.exit();
    return a.finish();
}

void attach_device_filter(int cgroup_dir_fd, const std::vector<device_rule>& rules) {
    try {
        sys::unique_fd prog = load_device_program(device_filter_program(rules));
        auto before = attached_ids(cgroup_dir_fd);
        bpf_attr attr{};
        attr.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
        attr.attach_bpf_fd = static_cast<std::uint32_t>(prog.get());
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;  // not 0: see the header
        if (bpf(BPF_PROG_ATTACH, attr) < 0) {
            throw sys::errno_error("BPF_PROG_ATTACH");
        }
        // Until the old programs are gone both lists apply: stricter than
        // either, never looser.
        for (std::uint32_t id : before) {
            detach(cgroup_dir_fd, id);
        }
        // `prog` closes here; the attachment holds its own reference.
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
