// Chaos (issue 13): random kill -9 of `up` and `down`, random damage to one
// state file or loss of the whole state dir, and a second instance's `up`
// racing this one's — while containers that must not reach the wan keep
// trying. Judged by the kernel and a capture, never by moat's own word:
//
// - a capture on the lab host's uplink runs from before the first `up` to
//   after the last `down`: no packet of the "none" and VPN-confined
//   containers' spray (UDP :9, TCP :7 to the wan's web server) may cross it,
//   at any moment of the run; the NAT'ed container's beacon (UDP :8) must,
//   so the capture is shown to see what leaves (positive control), and a
//   capture on all interfaces shows the spray really was sent;
// - after each round a plain `up` must bring everything back, exit 0 (after
//   a lost state dir `gc` first; after a damaged host.json `up` refuses,
//   exit 1 naming it, and `down` first);
// - at the end `down` leaves nothing (links, addresses, tables, rules,
//   routes, processes, cgroups, mounts, state) and `gc` finds nothing.
//
// The seed is printed; MOAT_CHAOS_SEED=<n> replays a run, MOAT_CHAOS_ROUNDS
// changes its length.
#include "residue.hpp"
#include "vpn_moat.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <set>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

// Sends to the wan for ever: UDP to :9 and a TCP handshake to :7, both of
// which only a leak could carry out. bash's /dev/udp and /dev/tcp need no
// tool inside the container.
const char* spray =
    "while :; do echo leak > /dev/udp/198.51.100.10/9; "
    "timeout 0.3 bash -c \"exec 3<>/dev/tcp/198.51.100.10/7\"; sleep 0.05; done 2>/dev/null";
// The NAT'ed container's beacon, which must get out.
const char* beacon = "while :; do echo ok > /dev/udp/198.51.100.10/8; sleep 0.1; done 2>/dev/null";

std::string service(const std::string& container, const char* script) {
    return "[containers." + container + ".services.s]\nexec = [\"/bin/bash\", \"-c\", '" + script +
           "']\nrestart = \"always\"\n";
}

// `version` changes the member's service, so that an `up` switching
// versions has a container to recreate while it is killed.
std::string config_a(env& e, int version) {
    return tunnel_toml(e, "wireguard") +
           "\n[networks.lan]\nsubnet = \"10.183.0.0/24\"\negress = \"none\"\n"
           "\n[containers.sealed]\nprivateNetwork = true\nhostAddress = \"10.183.1.1\"\nlocalAddress = \"10.183.1.2\"\n" +
           service("sealed", spray) +
           "\n[containers.member]\nprivateNetwork = true\nhostBridge = \"lan\"\n" + service("member", spray) +
           "environment.VERSION = \"" + std::to_string(version) + "\"\n" +
           "\n[containers.confined]\nprivateNetwork = true\nhostAddress = \"10.183.2.1\"\nlocalAddress = "
           "\"10.183.2.2\"\negress = \"vpn:vpn0\"\n" +
           service("confined", spray) +
           "\n[containers.open]\nprivateNetwork = true\nhostAddress = \"10.183.3.1\"\nlocalAddress = \"10.183.3.2\"\n"
           "egress = \"nat\"\n" +
           service("open", beacon);
}

// The second instance: its own state dir, a NAT'ed container of its own.
std::string config_b() {
    return "[containers.intruder]\nprivateNetwork = true\nhostAddress = \"10.184.1.1\"\nlocalAddress = "
           "\"10.184.1.2\"\negress = \"nat\"\n";
}

const std::string spray_filter = "dst host " + web4 + " and (udp dst port 9 or tcp dst port 7)";

long ms_since(std::chrono::steady_clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count());
}

unsigned seed() {
    if (const char* s = std::getenv("MOAT_CHAOS_SEED")) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return std::random_device{}();
}

int rounds() {
    if (const char* s = std::getenv("MOAT_CHAOS_ROUNDS")) return std::atoi(s);
    return 24;
}

// What moat ever showed of itself, to look for afterwards.
void remember(lab& l, made& m) {
    auto now = snapshot(l);
    m.pids.insert(m.pids.end(), now.pids.begin(), now.pids.end());
    m.cgroups.insert(m.cgroups.end(), now.cgroups.begin(), now.cgroups.end());
}

// residue.hpp's check, and what only this test makes: routes in tunnel
// tables, the instance's cgroup subtree (with _tunnels), the second state dir.
std::string everything_left(env& e, const made& m, const std::string& state_b) {
    std::ostringstream out;
    out << residue(e.l, m, e.w.uplink());
    auto routes = e.l.in("{ ip route show table all; ip -6 route show table all; } | "
                         "grep -vE '^(local|broadcast|multicast) |" + e.w.uplink() + "|^fe80::/64 dev lo' || true");
    if (!routes.out.empty()) out << "routes: " << routes.out;
    std::set<std::string> parents;
    for (const auto& cg : m.cgroups) parents.insert(std::filesystem::path(cg).parent_path().string());
    for (const auto& p : parents) {
        if (sh("test -e " + p).code == 0) out << "cgroup subtree " << p << ": " << sh("find " + p + " -type d").out;
    }
    auto b = sh("test -e " + state_b + " && find " + state_b + " || true");
    if (!b.out.empty()) out << "second instance's state: " << b.out;
    return out.str();
}

// Runs moat in the lab's host and kills it with SIGKILL after `ms`.
result killed_after(lab& l, const std::string& args, int ms, const std::string& state_dir = "") {
    std::string moat = enter(l.host_ns()) + moat_binary() + " --state-dir " +
                       (state_dir.empty() ? l.state_dir() : state_dir) + " " + args;
    char delay[32];
    std::snprintf(delay, sizeof delay, "%d.%03d", ms / 1000, ms % 1000);
    return sh(moat + " >/dev/null 2>&1 & p=$!; sleep " + std::string(delay) +
              "; kill -9 $p 2>/dev/null && echo killed; wait $p; echo rc=$?");
}

// One state file of the instance (records, host.json), chosen at random.
std::string some_state_file(lab& l, std::mt19937& rng) {
    auto found = sh("find " + l.state_dir() + " -name '*.json' -type f | sort");
    std::vector<std::string> files;
    std::istringstream in(found.out);
    for (std::string f; std::getline(in, f);) files.push_back(f);
    if (files.empty()) return "";
    return files[std::uniform_int_distribution<std::size_t>(0, files.size() - 1)(rng)];
}

// Damages one state file; `host` tells whether it was host.json.
std::string damage(lab& l, std::mt19937& rng, bool& host) {
    auto file = some_state_file(l, rng);
    host = file.ends_with("/host.json");
    if (file.empty()) return "no state file to damage";
    std::error_code ec;
    auto size = std::filesystem::file_size(file, ec);
    switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
        case 0:
            sh("rm -f " + file);
            return "deleted " + file;
        case 1: {
            auto keep = size > 1 ? std::uniform_int_distribution<std::uintmax_t>(0, size - 1)(rng) : 0;
            sh("truncate -s " + std::to_string(keep) + " " + file);
            return "truncated " + file + " to " + std::to_string(keep) + " of " + std::to_string(size);
        }
        default:
            sh("echo '{}' > " + file);
            return "replaced " + file + " by {}";
    }
}

}  // namespace

TEST(Chaos, KillsDamageAndASecondInstanceNeverLeakAndLeaveNothing) {
    unsigned s = seed();
    std::mt19937 rng(s);
    SCOPED_TRACE("MOAT_CHAOS_SEED=" + std::to_string(s));
    std::printf("chaos seed %u\n", s);
    env e;
    int version = 0;
    auto file = e.l.write("a.toml", config_a(e, version));
    auto file_b = e.l.write("b.toml", config_b());
    std::string state_b = e.l.dir() + "/state-b";
    auto moat_b = [&](const std::string& args) {
        return sh(enter(e.l.host_ns()) + moat_binary() + " --state-dir " + state_b + " " + args);
    };

    capture uplink(e.l, e.w.uplink());
    capture everywhere(e.l, "any");
    made what;
    // How long a whole `up` and `down` take here: kills land within them.
    auto timed = [&](const std::string& args) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = e.l.moat(args, std::chrono::seconds(90));
        EXPECT_EQ(r.code, 0) << args << ": " << r.out << r.err;
        return static_cast<int>(ms_since(t0));
    };
    int up_ms = timed("up -q -f " + file);
    int down_ms = timed("down -q");
    up_ok(e.l, file);
    remember(e.l, what);
    ASSERT_TRUE(through_tunnel(e.l, "confined", std::chrono::seconds(20))) << kernel_evidence(e.l);
    std::printf("a whole up takes %d ms, a whole down %d ms\n", up_ms, down_ms);
    const char* failpoints[] = {"after-record", "after-cgroup", "after-spawn", "after-network", "after-bridge",
                                "before-firewall", "after-firewall", "after-release"};

    std::vector<std::string> log;
    bool state_lost = false, host_damaged = false;
    for (int round = 0; round < rounds(); ++round) {
        std::string what_happened;
        int pick = std::uniform_int_distribution<int>(0, 99)(rng);
        if (pick < 30) {
            // Work for `up`: everything from scratch, or a container to recreate.
            if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
                e.l.moat("down -q");
                what_happened = "from scratch, ";
            } else {
                e.l.write("a.toml", config_a(e, ++version));
                what_happened = "recreating member, ";
            }
            if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
                const char* point = failpoints[std::uniform_int_distribution<std::size_t>(0, std::size(failpoints) - 1)(rng)];
                auto r = sh("MOAT_FAILPOINT=" + std::string(point) + " " + enter(e.l.host_ns()) + moat_binary() +
                            " --state-dir " + e.l.state_dir() + " up -q -f " + file + " >/dev/null 2>&1; echo rc=$?");
                what_happened += "up killed at " + std::string(point) + ": " + r.out;
            } else {
                int ms = std::uniform_int_distribution<int>(0, up_ms)(rng);
                auto r = killed_after(e.l, "up -q -f " + file, ms);
                what_happened += "up killed after " + std::to_string(ms) + " ms: " + r.out;
            }
        } else if (pick < 50) {
            int ms = std::uniform_int_distribution<int>(0, down_ms)(rng);
            auto r = killed_after(e.l, "down -q", ms);
            what_happened = "down killed after " + std::to_string(ms) + " ms: " + r.out;
        } else if (pick < 75) {
            what_happened = damage(e.l, rng, host_damaged);
        } else if (pick < 93) {
            // The second instance's up races this one's.
            auto a = std::async(std::launch::async, [&] { return e.l.moat("up -q -f " + file); });
            auto b = moat_b("up -q -f " + file_b);
            auto ra = a.get();
            what_happened = "concurrent up: A rc=" + std::to_string(ra.code) + ", B rc=" + std::to_string(b.code);
            EXPECT_TRUE(b.code == 0 || b.code == 2) << "B's up: " << b.err;
            EXPECT_TRUE(ra.code == 0 || ra.code == 2) << "A's up: " << ra.err;
            if (b.code == 0) {  // B got the namespace first: it leaves again
                EXPECT_EQ(moat_b("down").code, 0);
            }
            EXPECT_EQ(moat_b("status --json").code, 0);
        } else {
            sh("rm -rf " + e.l.state_dir());
            state_lost = true;
            what_happened = "state dir deleted";
        }
        log.push_back("round " + std::to_string(round) + ": " + what_happened);
        SCOPED_TRACE(log.back());
        if (state_lost) {
            auto gc = e.l.moat("gc");
            EXPECT_EQ(gc.code, 0) << gc.out << gc.err;
            state_lost = false;
        }
        if (host_damaged) {
            // `up` does not build on a host.json it cannot read (exit 1,
            // naming it), nor on this instance's table that a deleted
            // host.json no longer records (exit 2, pointing to gc); `down`
            // rebuilds what it can and removes everything of the instance.
            auto refused = e.l.moat("up -f " + file);
            bool named = refused.code == 1 && refused.err.find("host.json is damaged") != std::string::npos;
            bool unrecorded = refused.code == 2 && refused.err.find("does not record") != std::string::npos;
            EXPECT_TRUE(named || unrecorded) << refused.code << " " << refused.out << refused.err;
            auto down = e.l.moat("down");
            EXPECT_EQ(down.code, 0) << down.out << down.err;
            host_damaged = false;
        }
        auto r = e.l.moat("up -f " + file, std::chrono::seconds(90));
        EXPECT_EQ(r.code, 0) << r.out << r.err;
        remember(e.l, what);
        if (HasFailure()) break;
    }
    std::string history;
    for (const auto& line : log) history += line + "\n";
    std::printf("%s", history.c_str());

    auto down = e.l.moat("down");
    EXPECT_EQ(down.code, 0) << down.out << down.err << history;
    EXPECT_EQ(everything_left(e, what, state_b), "") << history;
    auto gc = e.l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.err;
    EXPECT_NE(gc.out.find("nothing to remove"), std::string::npos) << gc.out << history;
    EXPECT_EQ(moat_b("down").code, 0);
    uplink.stop();
    everywhere.stop();
    EXPECT_EQ(uplink.count(spray_filter), 0) << uplink.packets(spray_filter) << history;
    EXPECT_GT(uplink.count("dst host " + web4 + " and udp dst port 8"), 0) << "the capture saw nothing leave";
    EXPECT_GT(everywhere.count(spray_filter), 0) << "the spray never ran";
}
