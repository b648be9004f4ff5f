// The device allowlist's rules and eBPF program, without root: the program
// is checked as the verifier would and run in ebpf_interpreter.hpp on
// (type, major, minor, access) contexts.
#include "sandbox/device_filter.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include "ebpf_interpreter.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <set>
#include <system_error>

namespace moat::sandbox {
namespace {

using test::ebpf_run;
using test::ebpf_structure_error;

constexpr std::uint32_t m = BPF_DEVCG_ACC_MKNOD, r = BPF_DEVCG_ACC_READ, w = BPF_DEVCG_ACC_WRITE;
constexpr std::uint32_t chr = BPF_DEVCG_DEV_CHAR, blk = BPF_DEVCG_DEV_BLOCK;

std::uint64_t decide(const std::vector<bpf_insn>& prog, std::uint32_t type, std::uint32_t major,
                     std::uint32_t minor, std::uint32_t access) {
    bpf_cgroup_dev_ctx ctx{access << 16 | type, major, minor};
    return ebpf_run(prog, ctx);
}

// What moat's default list means, written out independently of the rule
// table: the seven character devices and the ptys, read and/or write.
bool default_allows(std::uint32_t type, std::uint32_t major, std::uint32_t minor, std::uint32_t access) {
    if (type != chr || (access & m) != 0) {
        return false;
    }
    static const std::set<std::pair<std::uint32_t, std::uint32_t>> nodes = {
        {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}};
    return major == 136 || nodes.count({major, minor}) != 0;
}

// Decisions of `prog` that differ from default_allows() over a grid that
// covers every listed device, its neighbours and the attack targets
// (kmsg 1:11, mem 1:1, tun 10:200, fuse 10:229, kvm 10:232,
// loop-control 10:237, loop 7:0, sda 8:0, console 5:1).
int mismatches_with_default(const std::vector<bpf_insn>& prog) {
    int bad = 0;
    for (std::uint32_t type : {chr, blk}) {
        for (std::uint32_t major : {0u, 1u, 4u, 5u, 7u, 8u, 10u, 135u, 136u, 137u, 4095u}) {
            for (std::uint32_t minor : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 11u, 200u, 229u, 232u, 237u,
                                        (1u << 20) - 1}) {
                for (std::uint32_t access = 1; access <= 7; ++access) {
                    bool got = decide(prog, type, major, minor, access) == 1;
                    if (got != default_allows(type, major, minor, access)) {
                        ++bad;
                    }
                }
            }
        }
    }
    return bad;
}

TEST(SandboxDeviceFilter, DefaultRulesAreDockersWithoutMknod) {
    std::vector<std::string> got;
    for (const auto& rule : default_device_rules()) {
        got.push_back(to_string(rule));
    }
    EXPECT_EQ(got, (std::vector<std::string>{"c 1:3 rw", "c 1:5 rw", "c 1:7 rw", "c 1:8 rw", "c 1:9 rw",
                                             "c 5:0 rw", "c 5:2 rw", "c 136:* rw"}));
    EXPECT_EQ(to_string(tun_device_rule()), "c 10:200 rw");
}

TEST(SandboxDeviceFilter, DefaultProgramIsWellFormed) {
    auto prog = device_filter_program(default_device_rules());
    EXPECT_EQ(ebpf_structure_error(prog), "");
    // 6 to split the context, at most 5 compares + 2 per rule, 2 at the end.
    EXPECT_LE(prog.size(), 6 + 8 * 7 + 2u);
}

TEST(SandboxDeviceFilter, DefaultProgramAllowsExactlyTheList) {
    auto prog = device_filter_program(default_device_rules());
    EXPECT_EQ(mismatches_with_default(prog), 0);
    EXPECT_EQ(decide(prog, chr, 1, 3, r | w), 1u);   // open("/dev/null", O_RDWR)
    EXPECT_EQ(decide(prog, chr, 1, 9, r), 1u);       // /dev/urandom
    EXPECT_EQ(decide(prog, chr, 136, 7, r | w), 1u); // /dev/pts/7
    EXPECT_EQ(decide(prog, chr, 1, 3, m), 0u);       // mknod c 1 3
    EXPECT_EQ(decide(prog, chr, 1, 11, w), 0u);      // /dev/kmsg
    EXPECT_EQ(decide(prog, blk, 1, 3, r), 0u);       // a block device with null's numbers
    EXPECT_EQ(decide(prog, chr, 10, 200, r | w), 0u); // /dev/net/tun only when asked
}

// The checks above can fail: a table with one rule too many, one rule
// looser, or one missing gives other decisions.
TEST(SandboxDeviceFilter, ABrokenTableIsCaught) {
    auto more = default_device_rules();
    more.push_back(tun_device_rule());
    EXPECT_GT(mismatches_with_default(device_filter_program(more)), 0);

    auto looser = default_device_rules();
    looser[0].access |= device_access::mknod;
    EXPECT_GT(mismatches_with_default(device_filter_program(looser)), 0);

    auto fewer = default_device_rules();
    fewer.pop_back();
    EXPECT_GT(mismatches_with_default(device_filter_program(fewer)), 0);

    auto wrong_kind = default_device_rules();
    wrong_kind[1].kind = device_kind::any;
    EXPECT_GT(mismatches_with_default(device_filter_program(wrong_kind)), 0);
}

TEST(SandboxDeviceFilter, TheStructureCheckRefusesBrokenPrograms) {
    auto prog = device_filter_program(default_device_rules());
    auto far = prog;
    for (auto& i : far) {
        if (BPF_CLASS(i.code) == BPF_JMP32) {
            i.off = static_cast<std::int16_t>(prog.size());
            break;
        }
    }
    EXPECT_NE(ebpf_structure_error(far), "");
    auto no_end = prog;
    no_end.pop_back();
    EXPECT_NE(ebpf_structure_error(no_end), "");
    auto unset_r0 = std::vector<bpf_insn>(prog.begin(), prog.begin() + 6);
    unset_r0.push_back(prog.back());  // exit without r0 = 0
    EXPECT_NE(ebpf_structure_error(unset_r0), "");
    auto dead = device_filter_program({{device_kind::any, std::nullopt, std::nullopt, device_access::all}});
    dead.push_back(prog.back());
    EXPECT_NE(ebpf_structure_error(dead), "");
}

TEST(SandboxDeviceFilter, ReadOnlyRuleRefusesReadWriteOpens) {
    auto prog = device_filter_program({device_rule{device_kind::character, 10, 229, device_access::read}});
    EXPECT_EQ(ebpf_structure_error(prog), "");
    EXPECT_EQ(decide(prog, chr, 10, 229, r), 1u);
    EXPECT_EQ(decide(prog, chr, 10, 229, r | w), 0u);
    EXPECT_EQ(decide(prog, chr, 10, 229, w), 0u);
    EXPECT_EQ(decide(prog, chr, 10, 229, m), 0u);
    EXPECT_EQ(decide(prog, chr, 10, 228, r), 0u);
}

TEST(SandboxDeviceFilter, EmptyListRefusesEverythingAndMatchAllEndsTheProgram) {
    auto none = device_filter_program({});
    EXPECT_EQ(ebpf_structure_error(none), "");
    EXPECT_EQ(decide(none, chr, 1, 3, r), 0u);

    auto all = device_rule{device_kind::any, std::nullopt, std::nullopt, device_access::all};
    auto rules = default_device_rules();
    rules.insert(rules.begin() + 2, all);
    auto prog = device_filter_program(rules);
    EXPECT_EQ(ebpf_structure_error(prog), "");  // nothing unreachable after it
    EXPECT_EQ(decide(prog, blk, 8, 0, r | w | m), 1u);
}

// Random rule sets against the rules' meaning, written out here.
TEST(SandboxDeviceFilter, RandomRulesDecideAsTheyRead) {
    std::mt19937 rng(20240611);
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
    for (int round = 0; round < 300; ++round) {
        std::vector<device_rule> rules(pick(6));
        for (auto& rule : rules) {
            rule.kind = static_cast<device_kind>(pick(3));
            rule.major = pick(4) == 0 ? std::nullopt : std::optional<std::uint32_t>(pick(4));
            rule.minor = pick(4) == 0 ? std::nullopt : std::optional<std::uint32_t>(pick(4));
            rule.access = 1 + pick(7);
        }
        auto prog = device_filter_program(rules);
        ASSERT_EQ(ebpf_structure_error(prog), "") << round;
        for (std::uint32_t type : {chr, blk}) {
            for (std::uint32_t major = 0; major < 4; ++major) {
                for (std::uint32_t minor = 0; minor < 4; ++minor) {
                    for (std::uint32_t access = 1; access <= 7; ++access) {
                        bool want = false;
                        for (const auto& rule : rules) {
                            bool kind = rule.kind == device_kind::any ||
                                        (rule.kind == device_kind::block) == (type == blk);
                            want = want || (kind && (!rule.major || *rule.major == major) &&
                                            (!rule.minor || *rule.minor == minor) && (access & ~rule.access) == 0);
                        }
                        ASSERT_EQ(decide(prog, type, major, minor, access), want ? 1u : 0u)
                            << "round " << round << " type " << type << " " << major << ":" << minor << " access "
                            << access;
                    }
                }
            }
        }
    }
}

TEST(SandboxDeviceFilter, LongListsStayWithinJumpRange) {
    std::vector<device_rule> rules;
    for (std::uint32_t i = 0; i < 500; ++i) {
        rules.push_back({device_kind::block, 8, i, device_access::read});
    }
    auto prog = device_filter_program(rules);
    EXPECT_EQ(ebpf_structure_error(prog), "");
    EXPECT_EQ(decide(prog, blk, 8, 499, r), 1u);
    EXPECT_EQ(decide(prog, blk, 8, 500, r), 0u);
}

// More rules for one major than a jump's 16-bit offset could skip over at
// once: the program splits them into groups of its own.
TEST(SandboxDeviceFilter, HugeListsAreSplitBeforeAJumpWouldOverflow) {
    std::vector<device_rule> rules;
    for (std::uint32_t i = 0; i < 12000; ++i) {
        rules.push_back({device_kind::block, 8, i, device_access::read});
    }
    std::vector<bpf_insn> prog;
    ASSERT_NO_THROW(prog = device_filter_program(rules));
    EXPECT_EQ(decide(prog, blk, 8, 0, r), 1u);
    EXPECT_EQ(decide(prog, blk, 8, 11999, r), 1u);
    EXPECT_EQ(decide(prog, blk, 8, 12000, r), 0u);
    EXPECT_EQ(decide(prog, blk, 8, 5, w), 0u);
}

TEST(SandboxDeviceFilter, RulesNoDeviceCouldMatchAreRefused) {
    using R = device_rule;
    EXPECT_THROW(device_filter_program({R{device_kind::character, 1, 3, 0}}), moat::error);
    EXPECT_THROW(device_filter_program({R{device_kind::character, 1, 3, 8}}), moat::error);
    EXPECT_THROW(device_filter_program({R{device_kind::character, 4096, 0, device_access::read}}), moat::error);
    EXPECT_THROW(device_filter_program({R{device_kind::character, 1, 1u << 20, device_access::read}}),
                 moat::error);
    EXPECT_NO_THROW(device_filter_program({R{device_kind::character, 4095, (1u << 20) - 1, device_access::read}}));
}

TEST(SandboxDeviceFilter, ParsesModifiers) {
    EXPECT_EQ(parse_device_access("rwm"), device_access::all);
    EXPECT_EQ(parse_device_access("r"), device_access::read);
    EXPECT_EQ(parse_device_access("mw"), device_access::mknod | device_access::write);
    EXPECT_THROW(parse_device_access(""), moat::error);
    EXPECT_THROW(parse_device_access("rx"), moat::error);
    EXPECT_THROW(parse_device_access("RW"), moat::error);
}

TEST(SandboxDeviceFilter, RuleForAHostNode) {
    auto null = device_rule_for("/dev/null", "rw");
    EXPECT_EQ(to_string(null), "c 1:3 rw");
    EXPECT_EQ(null, default_device_rules()[0]);

    char dir[] = "/tmp/moat-devrule-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    struct cleanup {
        std::string path;
        ~cleanup() { sys::remove_tree(path); }
    } guard{dir};
    std::string file = std::string(dir) + "/plain";
    ::close(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    std::string link = std::string(dir) + "/null-link";
    ASSERT_EQ(::symlink("/dev/null", link.c_str()), 0);
    EXPECT_EQ(device_rule_for(link, "r"), (device_rule{device_kind::character, 1, 3, device_access::read}));
    try {
        device_rule_for(file, "rwm");
        ADD_FAILURE() << "a regular file made a device rule";
    } catch (const moat::error& e) {
        EXPECT_NE(std::string(e.what()).find(file + " is not a device node"), std::string::npos) << e.what();
    }
    EXPECT_THROW(device_rule_for(dir, "rwm"), moat::error);  // a directory
    try {
        device_rule_for(std::string(dir) + "/absent", "rw");
        ADD_FAILURE() << "a missing node made a device rule";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
    }
    EXPECT_THROW(device_rule_for("/dev/null", "x"), moat::error);
}

TEST(SandboxDeviceFilter, PrintsRulesLikeDevicesList) {
    EXPECT_EQ(to_string({device_kind::block, 8, std::nullopt, device_access::read}), "b 8:* r");
    EXPECT_EQ(to_string({device_kind::any, std::nullopt, std::nullopt, device_access::all}), "a *:* rwm");
    EXPECT_EQ(to_string({device_kind::character, 10, 229, device_access::mknod}), "c 10:229 m");
}

}  // namespace
}  // namespace moat::sandbox
