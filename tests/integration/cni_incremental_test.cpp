// CNI ADD and DEL change table inet moat in place — only the pod's own
// chains, rules and set elements, in one transaction — instead of
// replacing the whole table (firewall::incremental_update()). What must
// hold: after any sequence of them the kernel has exactly the table a
// full commit of the same state gives; and `moat check`, which commits the
// recorded script in a scratch namespace to know what to expect, sees no
// drift then, and sees it when the table was changed behind moat's back.
#include "check_util.hpp"
#include "cni_driver.hpp"
#include "network_lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace moat::test {
namespace {

using nlohmann::json;

// A listing's top-level items (the comment line, each set, map and chain
// with its text unchanged) sorted: the kernel lists chains in the order
// they were made, which history decides; nothing else may differ.
// Independent of the product's firewall::canonical_listing().
std::string canonical(const std::string& listing) {
    std::vector<std::string> items;
    std::string cur;
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line.rfind("table ", 0) == 0 || line == "}") {
            continue;
        }
        cur += line + "\n";
        bool top = line.size() > 1 && line[0] == '\t' && line[1] != '\t';
        if (line == "\t}" || (top && line.back() != '{')) {
            items.push_back(cur);
            cur.clear();
        }
    }
    std::sort(items.begin(), items.end());
    std::string out;
    for (const auto& i : items) {
        out += i;
    }
    return out + cur;
}

class incremental_lab {
public:
    incremental_lab() : w(l) {}

    std::string conf(int port) const {
        return R"({"cniVersion":"1.0.0","name":"pods","type":"moat","subnet":"10.89.0.0/24","egress":"nat",)"
               R"("allowedTCPPorts":[80],"stateDir":")" +
               l.state_dir() + R"(","runtimeConfig":{"portMappings":[{"hostPort":)" + std::to_string(port) +
               R"(,"containerPort":80,"protocol":"tcp"}]}})";
    }
    cni_invocation add(const std::string& id, int port) {
        if (!netns.count(id)) {
            netns[id] = l.add_ns(id);
        }
        return cni_exec(l, "ADD", conf(port), id, netns[id], "eth0");
    }
    cni_invocation add_killed_after_the_commit(const std::string& id, int port) {
        auto ns = l.add_ns(id);
        netns[id] = ns;
        return cni_exec(l, "ADD", conf(port), id, ns, "eth0", "", "/usr/lib/cni", "MOAT_FAILPOINT=after-firewall");
    }
    cni_invocation del(const std::string& id, int port) { return cni_exec(l, "DEL", conf(port), id, netns[id], "eth0"); }

    std::string listing() { return l.in("nft list table inet moat").out; }
    std::string table_handle() { return l.in("nft -a list table inet moat | sed -n '1s/.*# handle //p'").out; }

    // The whole table committed again from host.json's script, in place,
    // as `moat up` would: the listing of a full commit of the same state.
    std::string full_commit() {
        std::ifstream f(l.state_dir() + "/host.json");
        json host = json::parse(f);
        std::string script = host["nft_ruleset"];
        std::string comment;
        auto live = listing();
        if (auto at = live.find("\tcomment \""); at != std::string::npos) {
            comment = live.substr(at + 10, live.find('"', at + 10) - at - 10);
        }
        std::ofstream(l.dir() + "/full.nft") << "delete table inet moat\ntable inet moat { comment \"" << comment
                                             << "\"; }\n"
                                             << script;
        auto r = l.in("nft -f " + l.dir() + "/full.nft");
        EXPECT_EQ(r.code, 0) << r.out << r.err;
        return listing();
    }

    lab l;
    wan w;
    std::map<std::string, std::string> netns;
};

TEST(CniIncremental, AddsAndDelsLeaveTheTableAFullCommitMakes) {
    incremental_lab c;
    ASSERT_EQ(c.add("pa", 20001).code, 0);
    auto first = c.table_handle();
    ASSERT_FALSE(first.empty());
    auto chain_a = c.l.in("nft -a list table inet moat | grep -A3 'chain out_' | head -3").out;
    ASSERT_EQ(c.add("pb", 20002).code, 0);
    ASSERT_EQ(c.add("pc", 20003).code, 0);
    // Changed in place: the same table, the first pod's rules untouched (a
    // replacement makes a new table, and every rule gets a new handle).
    EXPECT_EQ(c.table_handle(), first);
    EXPECT_NE(c.l.in("nft -a list table inet moat").out.find(chain_a), std::string::npos) << chain_a;
    ASSERT_EQ(c.del("pb", 20002).code, 0);
    ASSERT_EQ(c.add("pd", 20004).code, 0);
    EXPECT_EQ(c.table_handle(), first);

    auto incremental = c.listing();
    // Three pods, each with its chains, elements and forward.
    for (const char* port : {"20001", "20003", "20004"}) {
        EXPECT_NE(incremental.find("dport " + std::string(port) + " dnat"), std::string::npos) << incremental;
    }
    EXPECT_EQ(incremental.find("dport 20002 dnat"), std::string::npos) << incremental;
    EXPECT_EQ(evidence(check_json(c.l), "", "firewall rules"), "table inet moat as committed");

    auto full = c.full_commit();
    EXPECT_NE(c.table_handle(), first);  // it was replaced
    EXPECT_EQ(canonical(incremental), canonical(full));

    // Once more after the full commit, then the negative control: one
    // element taken behind moat's back is a difference, for the comparison
    // above and for `moat check`.
    ASSERT_EQ(c.add("pe", 20005).code, 0);
    ASSERT_EQ(c.del("pa", 20001).code, 0);
    incremental = c.listing();
    EXPECT_EQ(evidence(check_json(c.l), "", "firewall rules"), "table inet moat as committed");
    auto element = c.l.in("nft list map inet moat to4 | grep -o '\"[^\"]*\" \\. [0-9.]*' | head -1").out;
    ASSERT_FALSE(element.empty()) << incremental;
    element.pop_back();
    ASSERT_EQ(c.l.in("nft delete element inet moat to4 '{ " + element + " }'").code, 0);
    auto damaged = c.listing();
    auto drift = evidence(check_json(c.l), "", "firewall rules");
    EXPECT_NE(drift.find("missing: "), std::string::npos) << drift;
    full = c.full_commit();
    EXPECT_EQ(canonical(incremental), canonical(full));
    EXPECT_NE(canonical(damaged), canonical(full));
    EXPECT_EQ(evidence(check_json(c.l), "", "firewall rules"), "table inet moat as committed");

    // host.json of an older moat: the listing it kept is read and ignored
    // while a script is recorded, and dropped by the next commit.
    {
        std::ifstream f(c.l.state_dir() + "/host.json");
        json host = json::parse(f);
        host["nft_listing"] = "table inet moat {\n}\n";
        std::ofstream(c.l.state_dir() + "/host.json") << host.dump(2) << "\n";
    }
    EXPECT_EQ(evidence(check_json(c.l), "", "firewall rules"), "table inet moat as committed");
    ASSERT_EQ(c.add("pf", 20006).code, 0);
    {
        std::ifstream f(c.l.state_dir() + "/host.json");
        EXPECT_FALSE(json::parse(f).contains("nft_listing"));
    }
    EXPECT_EQ(canonical(c.listing()), canonical(c.full_commit()));
    for (const auto& [id, port] : std::map<std::string, int>{{"pc", 20003}, {"pd", 20004}, {"pe", 20005}, {"pf", 20006}}) {
        EXPECT_EQ(c.del(id, port).code, 0);
    }
    EXPECT_EQ(c.l.in("nft list table inet moat").code, 1);  // the last DEL removed it
}

// A kill -9 between the commit and its record leaves host.json's script
// behind the kernel's table. What comes next must not build on that: an
// ADD whose pod's objects exist already fails to make them again
// ("create") and replaces the table whole — with "add" its rules would be
// there twice; the DEL of the killed ADD (its record never says
// "running") replaces the table whole, taking away what only the kernel
// knew of.
TEST(CniIncremental, ARecordBehindTheTableFallsBackToTheWholeTable) {
    incremental_lab c;
    ASSERT_EQ(c.add("pa", 20001).code, 0);
    auto killed = c.add_killed_after_the_commit("pb", 20002);
    ASSERT_NE(killed.code, 0) << killed.raw;
    auto first = c.table_handle();
    ASSERT_NE(c.listing().find("dport 20002 dnat"), std::string::npos);  // committed, not recorded
    auto next = c.add("pc", 20003);
    ASSERT_EQ(next.code, 0) << next.raw;
    auto after = c.listing();
    EXPECT_EQ(canonical(after), canonical(c.full_commit()));
    EXPECT_EQ(evidence(check_json(c.l), "", "firewall rules"), "table inet moat as committed");

    // The engine's DEL of the killed ADD: nothing of pb is left.
    ASSERT_EQ(c.del("pb", 20002).code, 0);
    after = c.listing();
    EXPECT_EQ(after.find("20002"), std::string::npos) << after;
    EXPECT_EQ(canonical(after), canonical(c.full_commit()));
    ASSERT_EQ(c.add("pb", 20002).code, 0);  // its ADD again
    EXPECT_EQ(canonical(c.listing()), canonical(c.full_commit()));
    for (const auto& [id, port] : std::map<std::string, int>{{"pa", 20001}, {"pb", 20002}, {"pc", 20003}}) {
        EXPECT_EQ(c.del(id, port).code, 0);
    }
    EXPECT_EQ(c.l.in("nft list table inet moat").code, 1);
    (void)first;
}

}  // namespace
}  // namespace moat::test
