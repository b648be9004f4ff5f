// IPAM delegation without root: the `ipam` key, reading a lease out of an
// IPAM plugin's result, the network's subnet fixed by the first lease, and
// the delegate exec itself, run against small plugin scripts written here
// (the real host-local runs in tests/integration/cni_chain_test.cpp).
#include "cni/ipam.hpp"
#include "cni/netconf.hpp"
#include "cni/pod.hpp"
#include "cni/protocol.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace moat::cni {
namespace {

using nlohmann::json;

template <typename F>
error thrown(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e;
    }
    ADD_FAILURE() << "no cni::error thrown";
    return error(code::internal, "none");
}

request request_of(const std::string& conf) {
    request r;
    r.verb = verb::add;
    r.network = "pods";
    r.config = json::parse(conf);
    return r;
}

const char* host_local = R"({"type":"host-local","ranges":[[{"subnet":"10.77.0.0/24"}]]})";

TEST(CniIpam, TheIpamKeyReplacesSubnet) {
    auto nc = parse_netconf(request_of(std::string(R"({"name":"pods","type":"moat","ipam":)") + host_local + "}"));
    EXPECT_EQ(nc.ipam_type, "host-local");
    // Positive control: "subnet" alone still means moat allocates.
    auto own = parse_netconf(request_of(R"({"name":"pods","type":"moat","subnet":"10.89.0.0/24"})"));
    EXPECT_EQ(own.ipam_type, "");
    EXPECT_EQ(own.subnet.str(), "10.89.0.0/24");
}

TEST(CniIpam, BothOrNeitherOfSubnetAndIpamIsCode7) {
    auto both = thrown([] {
        parse_netconf(request_of(std::string(R"({"name":"pods","subnet":"10.89.0.0/24","ipam":)") + host_local + "}"));
    });
    EXPECT_EQ(both.code(), code::invalid_config);
    EXPECT_NE(std::string(both.what()).find("both"), std::string::npos) << both.what();
    auto neither = thrown([] { parse_netconf(request_of(R"({"name":"pods"})")); });
    EXPECT_EQ(neither.code(), code::invalid_config);
    EXPECT_NE(std::string(neither.what()).find("\"subnet\" or \"ipam\" is required"), std::string::npos);
    for (const char* bad : {R"("host-local")", R"({})", R"({"type":""})", R"({"type":"../bin/sh"})"}) {
        auto e = thrown([&] { parse_netconf(request_of(std::string(R"({"name":"pods","ipam":)") + bad + "}")); });
        EXPECT_EQ(e.code(), code::invalid_config) << bad;
    }
}

result result_of(const std::string& text) { return ipam::parse_result(text, "host-local"); }

TEST(CniIpam, ReadsHostLocalsResultInEachVersion) {
    // What Debian 12's host-local prints, 0.4.0 (with "version") and 1.0.0.
    auto v04 = result_of(R"({"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.77.0.2/24","gateway":"10.77.0.1"}],)"
                         R"("routes":[{"dst":"0.0.0.0/0"}],"dns":{}})");
    auto v10 = result_of(R"({"cniVersion":"1.0.0","ips":[{"address":"10.77.0.2/24","gateway":"10.77.0.1"}],)"
                         R"("routes":[{"dst":"0.0.0.0/0"}],"dns":{}})");
    EXPECT_EQ(v04, v10);
    auto l = lease_of(v10, "host-local");
    EXPECT_EQ(l.address.str(), "10.77.0.2/24");
    EXPECT_EQ(l.gateway.str(), "10.77.0.1");
    auto bad = thrown([] { result_of(R"({"ips":[{"address":"10.77.0.2"}]})"); });
    EXPECT_EQ(bad.code(), code::decoding_failure);
    EXPECT_EQ(std::string(bad.what()).find("prevResult"), std::string::npos) << bad.what();
    EXPECT_EQ(thrown([] { result_of("not json"); }).code(), code::decoding_failure);
}

TEST(CniIpam, TheGatewayIsTheResultsOrTheSubnetsFirst) {
    auto named = lease_of(result_of(R"({"ips":[{"address":"10.77.0.9/24","gateway":"10.77.0.254"}]})"), "static");
    EXPECT_EQ(named.gateway.str(), "10.77.0.254");
    auto none = lease_of(result_of(R"({"ips":[{"address":"10.77.0.9/24"}]})"), "static");
    EXPECT_EQ(none.gateway.str(), "10.77.0.1");
    // The network the pod joins: the lease's subnet, the bridge on the gateway.
    netconf nc;
    nc.network = "pods";
    nc.moat_network = "cni-pods";
    auto plan = network_plan_of(use_lease(nc, named));
    EXPECT_EQ(plan.gateway.str(), "10.77.0.254/24");
    EXPECT_EQ(plan.bridge_if, "mb-cni-pods");
}

TEST(CniIpam, RefusesLeasesMoatCannotGiveAPod) {
    const char* refused[] = {
        R"({"ips":[]})",                                                         // nothing leased
        R"({"ips":[{"address":"fd00:77::2/64","gateway":"fd00:77::1"}]})",        // IPv6
        R"({"ips":[{"address":"10.77.0.2/24"},{"address":"fd00:77::2/64"}]})",     // dual stack
        R"({"ips":[{"address":"10.77.0.2/24"},{"address":"10.78.0.2/24"}]})",      // two ranges
        R"({"ips":[{"address":"10.77.0.2/31"}]})",                               // no room for the bridge
        R"({"ips":[{"address":"10.77.0.2/24","gateway":"10.99.0.1"}]})",          // gateway elsewhere
        R"({"ips":[{"address":"10.77.0.1/24","gateway":"10.77.0.1"}]})",          // the gateway itself
        R"({"ips":[{"address":"10.77.0.255/24"}]})",                             // broadcast
        R"({"ips":[{"address":"10.77.0.2/24"}],"routes":[{"dst":"10.0.0.0/8","gw":"10.77.0.9"}]})",
        R"({"ips":[{"address":"10.77.0.2/24"}],"routes":[{"dst":"::/0"}]})",
    };
    for (const char* text : refused) {
        auto e = thrown([&] { lease_of(result_of(text), "host-local"); });
        EXPECT_EQ(e.code(), code::invalid_config) << text;
        EXPECT_NE(std::string(e.what()).find("\"host-local\""), std::string::npos) << e.what();
    }
    // Positive control: routes through the gateway, or with none, are fine.
    EXPECT_NO_THROW(lease_of(result_of(R"({"ips":[{"address":"10.77.0.2/30"}],"routes":[{"dst":"0.0.0.0/0"},)"
                                       R"({"dst":"10.0.0.0/8","gw":"10.77.0.1"}]})"),
                             "host-local"));
}

TEST(CniIpam, EveryLeaseMustLieInTheFirstOnesSubnet) {
    netconf nc;
    nc.network = "pods";
    nc.moat_network = "cni-pods";
    nc.ipam_type = "host-local";
    auto recorded = *sys::ip_prefix::parse("10.77.0.1/24");
    auto same = use_lease(nc, lease_of(result_of(R"({"ips":[{"address":"10.77.0.7/24"}]})"), "host-local"));
    EXPECT_EQ(network_change_problem(same, recorded), std::nullopt);
    auto elsewhere = use_lease(nc, lease_of(result_of(R"({"ips":[{"address":"10.78.0.7/24"}]})"), "host-local"));
    auto problem = network_change_problem(elsewhere, recorded);
    ASSERT_TRUE(problem);
    EXPECT_NE(problem->find("outside 10.77.0.0/24"), std::string::npos) << *problem;
    auto wider = use_lease(nc, lease_of(result_of(R"({"ips":[{"address":"10.77.0.7/16"}]})"), "host-local"));
    EXPECT_TRUE(network_change_problem(wider, recorded));
    auto gateway = use_lease(nc, lease_of(result_of(R"({"ips":[{"address":"10.77.0.7/24","gateway":"10.77.0.254"}]})"),
                                          "host-local"));
    ASSERT_TRUE(network_change_problem(gateway, recorded));
    EXPECT_NE(network_change_problem(gateway, recorded)->find("gateway 10.77.0.254"), std::string::npos);
}

TEST(CniIpam, PassesThePluginsErrorObjectThrough) {
    ipam::output o{1, R"({"cniVersion":"1.0.0","code":11,"msg":"range is busy","details":"try later"})", ""};
    auto e = ipam::error_of(o, "host-local");
    EXPECT_EQ(static_cast<int>(e.code()), 11);
    EXPECT_STREQ(e.what(), "range is busy");
    EXPECT_EQ(e.details(), "try later");
    auto garbage = ipam::error_of({2, "", "panic: oops\n"}, "host-local");
    EXPECT_EQ(garbage.code(), code::internal);
    EXPECT_NE(std::string(garbage.what()).find("exit status 2"), std::string::npos);
    EXPECT_EQ(garbage.details(), "panic: oops");
}

// A directory of plugin scripts, removed afterwards.
class plugin_dir {
public:
    plugin_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "moat-ipam-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp");
        }
        path = tmpl;
    }
    ~plugin_dir() { std::filesystem::remove_all(path); }
    std::string add(const std::string& name, const std::string& script, mode_t mode = 0755) {
        std::string file = path + "/" + name;
        std::ofstream(file) << "#!/bin/sh\n" << script;
        ::chmod(file.c_str(), mode);
        return file;
    }
    std::string path;
};

TEST(CniIpam, FindsThePluginInCniPathAsLibcniDoes) {
    plugin_dir a, b;
    a.add("fake", "exit 0\n", 0644);  // not executable: skipped
    auto found = b.add("fake", "exit 0\n");
    EXPECT_EQ(ipam::find_plugin("fake", {"/nonexistent", a.path, b.path}), found);
    auto e = thrown([&] { ipam::find_plugin("missing", {a.path, b.path}); });
    EXPECT_EQ(e.code(), code::invalid_config);
    EXPECT_EQ(std::string(e.what()), "failed to find plugin \"missing\" in path [" + a.path + " " + b.path + "]");
    EXPECT_EQ(thrown([&] { ipam::find_plugin("../fake", {b.path}); }).code(), code::invalid_config);
}

TEST(CniIpam, RunsThePluginWithOurEnvironmentAndTheConfigOnStdin) {
    plugin_dir d;
    auto p = d.add("echo", "printf '%s %s %s|' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$MOAT_IPAM_TEST\"; cat\n");
    ::setenv("MOAT_IPAM_TEST", "kept", 1);
    ::setenv("CNI_CONTAINERID", "c1", 1);
    ::setenv("CNI_COMMAND", "GC", 1);
    auto o = ipam::run(p, "DEL", R"({"name":"pods"})");
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.out, R"(DEL c1 kept|{"name":"pods"})");
    auto other = ipam::run(p, "DEL", "x", {{"CNI_CONTAINERID", "c2"}});
    EXPECT_EQ(other.out, "DEL c2 kept|x");
    EXPECT_EQ(ipam::run(p, "CHECK", "").out, "CHECK c1 kept|");  // an empty stdin is an EOF, not a hang
    ::unsetenv("MOAT_IPAM_TEST");
    ::unsetenv("CNI_CONTAINERID");
    ::unsetenv("CNI_COMMAND");
}

TEST(CniIpam, NeitherABigWriterNorAPluginThatIgnoresStdinHangsOrKillsUs) {
    plugin_dir d;
    // Writes 1 MiB before it reads: a plugin runner that writes stdin first deadlocks here.
    auto writer = d.add("writer", "head -c 1048576 /dev/zero; cat >/dev/null; echo err >&2; exit 3\n");
    std::string big(1 << 20, 'x');
    auto o = ipam::run(writer, "ADD", big);
    EXPECT_EQ(o.status, 3);
    EXPECT_EQ(o.out.size(), 1u << 20);
    EXPECT_EQ(o.err, "err\n");
    // Exits without reading a byte: our write gets EPIPE, not SIGPIPE.
    auto deaf = d.add("deaf", "exit 0\n");
    EXPECT_EQ(ipam::run(deaf, "ADD", big).status, 0);
}

}  // namespace
}  // namespace moat::cni
