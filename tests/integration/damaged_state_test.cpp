// Damaged state (issue 13): a record that is empty, truncated or missing its
// fields, a truncated host.json, and a directory moat did not make. `down`
// still removes everything moat made and names the damaged file; `status`
// and `check` list the damage and go on; `up` never deletes what it cannot
// attribute.
#include "residue.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

std::string container(const std::string& name, int net) {
    return "[containers." + name + "]\nprivateNetwork = true\nhostAddress = \"10.171." + std::to_string(net) +
           ".1\"\nlocalAddress = \"10.171." + std::to_string(net) + ".2\"\n[containers." + name +
           ".services.idle]\nexec = [\"/bin/sleep\", \"100000\"]\n";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string record_of(lab& l, const std::string& name) { return l.state_dir() + "/containers/" + name + "/record.json"; }

void truncate_to_half(const std::string& path) {
    ASSERT_EQ(sh("truncate -s $(( $(stat -c %s " + path + ") / 2 )) " + path).code, 0);
}

void merge(made& into, const made& more) {
    into.pids.insert(into.pids.end(), more.pids.begin(), more.pids.end());
    into.cgroups.insert(into.cgroups.end(), more.cgroups.begin(), more.cgroups.end());
}

nlohmann::json damaged_entry(const nlohmann::json& st, const std::string& name) {
    for (const auto& d : st.value("damaged", nlohmann::json::array())) {
        if (d["name"] == name) return d;
    }
    return nullptr;
}

}  // namespace

// On main, `up` took the `{}` record's empty name for the name of the
// directory to remove and deleted containers/ with every record in it.
TEST(DamagedState, EmptyRecordAmongRunningContainers) {
    lab l;
    std::string cfg;
    for (int i = 1; i <= 5; ++i) cfg += container("c" + std::to_string(i), 40 + i);
    auto file = l.write("moat.toml", cfg);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    made m = snapshot(l);
    ASSERT_EQ(m.pids.size(), 5u);
    int c1 = pid_of(l, "c1"), c3 = pid_of(l, "c3");
    l.write("state/containers/c3/record.json", "{}");
    // A directory moat did not make, in moat's containers/ directory.
    ASSERT_EQ(sh("mkdir '" + l.state_dir() + "/containers/Not A Name' && echo x > '" + l.state_dir() +
                 "/containers/Not A Name/f'").code, 0);

    auto st = l.moat("status --json");
    ASSERT_EQ(st.code, 0) << st.err;
    auto j = nlohmann::json::parse(st.out);
    EXPECT_EQ(j["containers"].size(), 4u) << j.dump(2);
    auto d = damaged_entry(j, "c3");
    ASSERT_FALSE(d.is_null()) << j.dump(2);
    EXPECT_EQ(d["path"], "containers/c3/record.json");
    auto text = l.moat("status");
    EXPECT_EQ(text.code, 0) << text.err;
    EXPECT_TRUE(contains(text.out, "c3") && contains(text.out, "damaged")) << text.out;
    auto check = l.moat("check --json");
    EXPECT_EQ(check.code, 1) << check.err;
    bool listed = false, others = false;
    auto checks = nlohmann::json::parse(check.out);  // not parse(...)["checks"] in the loop: it would dangle
    for (const auto& c : checks["checks"]) {
        listed = listed || (c["container"] == "c3" && c["check"] == "record" && !c["ok"].get<bool>());
        others = others || (c["container"] == "c1" && c["check"] == "init" && c["ok"].get<bool>());
    }
    EXPECT_TRUE(listed && others) << check.out;

    // `up` repairs the damaged one and leaves the others alone.
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_TRUE(contains(up.err, "containers/c3/record.json is damaged")) << up.err;
    EXPECT_TRUE(contains(up.out, "c3                   repaired")) << up.out;
    EXPECT_EQ(pid_of(l, "c1"), c1);
    EXPECT_GT(pid_of(l, "c3"), 0);
    EXPECT_NE(pid_of(l, "c3"), c3);
    EXPECT_EQ(sh("test -f '" + l.state_dir() + "/containers/Not A Name/f'").code, 0) << "up deleted a foreign directory";
    EXPECT_TRUE(contains(up.err, "Not A Name")) << up.err;
    merge(m, snapshot(l));

    // Damaged again; `down` removes what the name implies, and says so.
    l.write("state/containers/c3/record.json", "{}");
    auto down = l.moat("down");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_TRUE(contains(down.err, "containers/c3/record.json is damaged")) << down.err;
    EXPECT_TRUE(contains(down.out, "c3                   removed")) << down.out;
    EXPECT_EQ(sh("test -f '" + l.state_dir() + "/containers/Not A Name/f'").code, 0) << "down deleted a foreign directory";
    ASSERT_EQ(sh("rm -r '" + l.state_dir() + "/containers/Not A Name'").code, 0);
    ASSERT_EQ(l.moat("down").code, 0);  // now the state dir can go
    EXPECT_EQ(residue(l, m), "");
}

// On main a truncated record made status, check, up and down all fail.
TEST(DamagedState, TruncatedRecord) {
    lab l;
    auto file = l.write("moat.toml", container("t1", 51) + container("t2", 52) + container("t3", 53));
    auto other = l.write("other.toml", container("zz", 54));
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    made m = snapshot(l);
    ASSERT_EQ(m.pids.size(), 3u);
    int t1 = pid_of(l, "t1");
    truncate_to_half(record_of(l, "t2"));
    auto st = l.moat("status --json");
    ASSERT_EQ(st.code, 0) << st.err;
    auto j = nlohmann::json::parse(st.out);
    EXPECT_EQ(j["containers"].size(), 2u) << j.dump(2);
    EXPECT_FALSE(damaged_entry(j, "t2").is_null()) << j.dump(2);
    auto check = l.moat("check");
    EXPECT_EQ(check.code, 1) << check.err;
    EXPECT_TRUE(contains(check.out, "containers/t2/record.json")) << check.out;
    // `plan` says what `up` will do with it, for its own file and another.
    auto plan = l.moat("plan -f " + file);
    EXPECT_EQ(plan.code, 0) << plan.err;
    EXPECT_TRUE(contains(plan.out, "container t2: repair (containers/t2/record.json is damaged)")) << plan.out;
    plan = l.moat("plan -f " + other);
    EXPECT_EQ(plan.code, 0) << plan.err;
    EXPECT_TRUE(contains(plan.out, "container t2: stop (containers/t2/record.json is damaged")) << plan.out;
    EXPECT_TRUE(contains(plan.out, "container zz: create")) << plan.out;
    EXPECT_FALSE(contains(plan.out, "container t1: remove")) << plan.out;
    // `moat run` could not render t2's firewall either: refused, nothing touched.
    auto run = l.moat("run --rm --network none -- true");
    EXPECT_EQ(run.code, 1) << run.err;
    EXPECT_TRUE(contains(run.err, "containers/t2/record.json is damaged")) << run.err;
    EXPECT_EQ(l.in("ip link show ve-t2").code, 0);
    // Another file's `up`: t2 cannot be attributed to it, so its directory
    // stays; its container is stopped, since its firewall can no longer be
    // rendered (fail closed).
    auto up = l.moat("up -f " + other);
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_TRUE(contains(up.err, "containers/t2/record.json is damaged")) << up.err;
    EXPECT_EQ(sh("test -d " + l.state_dir() + "/containers/t2").code, 0);
    EXPECT_EQ(pid_of(l, "t1"), t1);
    EXPECT_NE(l.in("ip link show ve-t2").code, 0) << "the damaged container still has its link";
    merge(m, snapshot(l));
    auto down = l.moat("down");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_TRUE(contains(down.err, "containers/t2/record.json is damaged")) << down.err;
    EXPECT_EQ(residue(l, m), "");
}

// `down NAME` with another container's record damaged: it removes NAME and
// stops the damaged one (the firewall it commits cannot render its chains),
// keeping its directory for `down` of its own name.
TEST(DamagedState, DownOfOneNameStopsADamagedOther) {
    lab l;
    auto file = l.write("moat.toml", container("d1", 55) + container("d2", 56) + container("d3", 57));
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    made m = snapshot(l);
    ASSERT_EQ(m.pids.size(), 3u);
    int d3 = pid_of(l, "d3");
    l.write("state/containers/d2/record.json", "{\"name\": \"d2\"");
    auto down = l.moat("down d1");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_TRUE(contains(down.err, "containers/d2/record.json is damaged")) << down.err;
    EXPECT_TRUE(contains(down.out, "d1                   removed")) << down.out;
    EXPECT_TRUE(contains(down.out, "d2                   stopped")) << down.out;
    EXPECT_NE(l.in("ip link show ve-d2").code, 0) << "the damaged container still has its link";
    EXPECT_EQ(sh("test -d " + l.state_dir() + "/containers/d2").code, 0);
    EXPECT_NE(sh("test -d " + l.state_dir() + "/containers/d1").code, 0);
    EXPECT_EQ(pid_of(l, "d3"), d3);
    down = l.moat("down d2");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_NE(sh("test -d " + l.state_dir() + "/containers/d2").code, 0);
    EXPECT_EQ(pid_of(l, "d3"), d3);
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, m), "");
}

// On main a truncated host.json made `down` die half-way with a parse error
// that named no file, leaving the bridge, the table and forwarding = 1.
TEST(DamagedState, TruncatedHostJson) {
    lab l;
    // A fake uplink inside the lab's host namespace, for NAT (a veth pair:
    // this kernel has no dummy links). Nothing is sent over it.
    ASSERT_EQ(l.in("ip link add upl type veth peer name uplp && ip addr add 203.0.113.10/24 dev upl && "
                   "ip link set uplp up && ip link set upl up && ip route add default via 203.0.113.1").code, 0);
    auto forwarding = [&] { return l.in("cat /proc/sys/net/ipv4/conf/upl/forwarding").out; };
    std::string original = forwarding();
    ASSERT_EQ(original, "0\n");
    auto file = l.write("moat.toml", R"(
[networks.lab]
subnet = "10.172.0.0/24"
egress = "nat"
[containers.a]
privateNetwork = true
hostBridge = "lab"
[containers.b]
privateNetwork = true
hostBridge = "lab"
)");
    for (const char* damage : {"truncate", "garbage"}) {
        SCOPED_TRACE(damage);
        auto r = l.moat("up -f " + file);
        ASSERT_EQ(r.code, 0) << r.err;
        made m = snapshot(l);
        ASSERT_EQ(m.pids.size(), 2u);
        ASSERT_EQ(forwarding(), "1\n");
        ASSERT_EQ(l.in("ip link show mb-lab").code, 0);
        std::string host = l.state_dir() + "/host.json";
        if (std::string(damage) == "truncate") {
            truncate_to_half(host);
        } else {
            l.write("state/host.json", "garbage");
        }
        // `up` refuses to build on it and changes nothing.
        r = l.moat("up -f " + file);
        EXPECT_EQ(r.code, 1);
        EXPECT_TRUE(contains(r.err, "host.json is damaged")) << r.err;
        EXPECT_EQ(snapshot(l).pids, m.pids);
        auto down = l.moat("down");
        EXPECT_EQ(down.code, 0) << down.err;
        EXPECT_TRUE(contains(down.err, "host.json is damaged")) << down.err;
        EXPECT_EQ(residue(l, m, "upl"), "");
        if (std::string(damage) == "truncate") {
            // The sysctls come first in host.json: their original values survive a truncation.
            EXPECT_EQ(forwarding(), original);
        } else {
            // Nothing to restore from: left as it is, and said so.
            EXPECT_TRUE(contains(down.err, "net/ipv4/conf/upl/forwarding")) << down.err;
            l.in("echo 0 > /proc/sys/net/ipv4/conf/upl/forwarding");
        }
    }
}
