// moat in a CNI chain with Debian's containernetworking-plugins, driven the
// way libcni drives a conflist: ADD each plugin in order with prevResult =
// the previous plugin's result, CHECK in order and DEL in reverse order with
// prevResult = the cached result of the whole ADD, every plugin run with a
// clean environment (the CNI_* variables and PATH) and its configuration on
// stdin. Everything runs in a lab's host namespace against pod namespaces
// of the lab (LAB.md); the reference plugins' iptables rules (portmap,
// firewall) land in the lab's host namespace, where the plugin runs.
#include "network_lab.hpp"
#include "residue.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

namespace moat::test {
namespace {

using nlohmann::json;

const std::string reference_plugins = "/usr/lib/cni";

struct invocation {
    int code = -1;
    json out;  // null when stdout was empty
    std::string raw;
};

class chain_lab {
public:
    chain_lab() : w(l), bin(l.dir() + "/cni-bin") {
        sh("mkdir -p " + bin + " && ln -sf " + moat_binary() + " " + bin + "/moat");
    }

    // A moat plugin entry with "ipam": host-local leasing from `range`,
    // its leases in `data_dir`.
    json moat_ipam(const std::string& range, const std::string& data_dir, const std::string& egress = "nat") const {
        return {{"type", "moat"},
                {"egress", egress},
                {"stateDir", l.state_dir()},
                {"ipam",
                 {{"type", "host-local"},
                  {"dataDir", data_dir},
                  {"ranges", json::array({json::array({{{"subnet", range}}})})},
                  {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}}}};
    }
    json moat_subnet(const std::string& egress = "nat") const {
        return {{"type", "moat"}, {"egress", egress}, {"stateDir", l.state_dir()}, {"subnet", "10.89.0.0/24"}};
    }
    static json conflist(std::vector<json> plugins) {
        return {{"cniVersion", "1.0.0"}, {"name", "pods"}, {"plugins", std::move(plugins)}};
    }

    // libcni's AddNetworkList: each plugin in order; the last result is cached.
    invocation add(const json& list, const std::string& id, const std::string& ns, const json& runtime = {}) {
        json prev;
        invocation r;
        for (const auto& p : list["plugins"]) {
            r = exec(p["type"], "ADD", build(list, p, prev, runtime), id, ns);
            if (r.code != 0) {
                return r;
            }
            prev = r.out;
        }
        cache[id] = prev;
        return r;
    }
    // DelNetworkList: reverse order, each with the cached result (none after
    // a failed ADD, as libcni caches only a successful one).
    invocation del(const json& list, const std::string& id, const std::string& ns, const json& runtime = {}) {
        json prev = cache.count(id) ? cache[id] : json();
        const auto& plugins = list["plugins"];
        for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
            auto r = exec((*it)["type"], "DEL", build(list, *it, prev, runtime), id, ns);
            if (r.code != 0) {
                return r;
            }
        }
        cache.erase(id);
        return {0, json(), ""};
    }
    // CheckNetworkList: in order, each with the cached result.
    invocation check(const json& list, const std::string& id, const std::string& ns, const json& runtime = {}) {
        json prev = cache.count(id) ? cache[id] : json();
        for (const auto& p : list["plugins"]) {
            auto r = exec(p["type"], "CHECK", build(list, p, prev, runtime), id, ns);
            if (r.code != 0) {
                return r;
            }
        }
        return {0, json(), ""};
    }

    // Address files host-local keeps in data_dir/<network>/ (not its lock
    // or last_reserved_ip.*).
    std::vector<std::string> leases(const std::string& data_dir) const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(data_dir + "/pods", ec)) {
            auto n = e.path().filename().string();
            if (n != "lock" && n.rfind("last_reserved_ip", 0) != 0) {
                out.push_back(n);
            }
        }
        return out;
    }

    lab l;
    wan w;
    std::string bin;
    std::map<std::string, json> cache;

private:
    // buildOneConfig: the list's name and version, prevResult, and the
    // runtime's values for the capabilities the plugin declares.
    static json build(const json& list, json plugin, const json& prev, const json& runtime) {
        plugin["name"] = list["name"];
        plugin["cniVersion"] = list["cniVersion"];
        if (!prev.is_null()) {
            plugin["prevResult"] = prev;
        }
        if (!plugin.contains("capabilities") || !runtime.is_object()) {
            return plugin;
        }
        const json caps = plugin["capabilities"];
        for (auto it = caps.begin(); it != caps.end(); ++it) {
            if (it.value() == true && runtime.contains(it.key())) {
                plugin["runtimeConfig"][it.key()] = runtime[it.key()];
            }
        }
        return plugin;
    }

    invocation exec(const std::string& type, const std::string& command, const json& conf, const std::string& id,
                    const std::string& ns) {
        std::string plugin = std::filesystem::exists(bin + "/" + type) ? bin + "/" + type : reference_plugins + "/" + type;
        std::string env = "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=" + command + " CNI_PATH=" + bin +
                          ":" + reference_plugins + " CNI_CONTAINERID=" + id + " CNI_IFNAME=eth0";
        if (!ns.empty()) env += " CNI_NETNS=/run/netns/" + ns;
        auto r = l.in("printf '%s' " + shq(conf.dump()) + " | " + env + " " + plugin);
        invocation out{r.code, json(), type + " " + command + ": " + r.out + r.err};
        if (!r.out.empty()) {
            out.out = json::parse(r.out, nullptr, false);
        }
        return out;
    }
};

std::string body_from(lab& l, const std::string& ns, const std::string& url) {
    return l.in("curl -s -m 3 " + url + " || true", ns).out;
}

std::string ip_of(const invocation& a) {
    auto cidr = a.out["ips"][0]["address"].get<std::string>();
    return cidr.substr(0, cidr.find('/'));
}

TEST(CniChain, HostLocalLeasesThePodsAddressAndDelReleasesIt) {
    chain_lab c;
    auto before = snapshot(c.l);
    std::string data = c.l.dir() + "/leases";
    auto list = chain_lab::conflist({c.moat_ipam("10.77.0.0/24", data)});
    auto ns_a = c.l.add_ns("pa");
    auto ns_b = c.l.add_ns("pb");
    auto a = c.add(list, "podA", ns_a);
    ASSERT_EQ(a.code, 0) << a.raw;
    auto b = c.add(list, "podB", ns_b);
    ASSERT_EQ(b.code, 0) << b.raw;
    // Each address is host-local's lease, held for that container, and is
    // what the pod has; the bridge took the lease's gateway.
    EXPECT_EQ(c.leases(data).size(), 2u);
    for (const auto& [pod, ns, r] : {std::tuple{"podA", ns_a, a}, std::tuple{"podB", ns_b, b}}) {
        auto lease = sh("cat " + data + "/pods/" + ip_of(r) + " 2>/dev/null").out;
        EXPECT_EQ(lease.rfind(pod, 0), 0u) << ip_of(r) << ": " << lease;
        EXPECT_NE(c.l.in("ip -o -4 addr show eth0", ns).out.find(r.out["ips"][0]["address"].get<std::string>()),
                  std::string::npos);
        EXPECT_EQ(r.out["ips"][0]["gateway"], "10.77.0.1") << r.raw;
        EXPECT_EQ(body_from(c.l, ns, "http://" + web4 + "/"), uplink4 + "\n");  // NAT'ed out as the uplink
    }
    EXPECT_NE(ip_of(a), ip_of(b));
    EXPECT_NE(c.l.in("ip -o -4 addr show mb-cni-pods").out.find("10.77.0.1/24"), std::string::npos);
    // moat's record keeps what IPAM gave: status shows it.
    auto st = status(c.l);
    ASSERT_EQ(st["containers"].size(), 2u) << st.dump();
    EXPECT_EQ(c.check(list, "podA", ns_a).code, 0);
    // CHECK goes to host-local too: without its lease it fails.
    sh("mv " + data + "/pods/" + ip_of(a) + " " + c.l.dir() + "/moved");
    auto broken = c.check(list, "podA", ns_a);
    EXPECT_NE(broken.code, 0) << broken.raw;
    sh("mv " + c.l.dir() + "/moved " + data + "/pods/" + ip_of(a));
    EXPECT_EQ(c.check(list, "podA", ns_a).code, 0);

    auto d = c.del(list, "podA", ns_a);
    EXPECT_EQ(d.code, 0) << d.raw;
    EXPECT_EQ(c.leases(data), std::vector<std::string>{ip_of(b)});
    EXPECT_EQ(c.del(list, "podA", ns_a).code, 0);  // again
    EXPECT_EQ(c.del(list, "podB", "").code, 0);    // without CNI_NETNS
    EXPECT_EQ(c.leases(data), std::vector<std::string>{});
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

TEST(CniChain, AFailedAddLeavesNoLease) {
    chain_lab c;
    auto before = snapshot(c.l);
    std::string data = c.l.dir() + "/leases";
    auto list = chain_lab::conflist({c.moat_ipam("10.77.0.0/24", data)});
    auto ns = c.l.add_ns("p");
    ASSERT_EQ(c.l.in("ip link add eth0 type veth peer name eth0p", ns).code, 0);  // CNI_IFNAME taken
    auto a = c.add(list, "pod", ns);
    EXPECT_EQ(a.code, 1);
    EXPECT_EQ(a.out["code"], 7) << a.raw;
    EXPECT_EQ(c.leases(data), std::vector<std::string>{});
    EXPECT_EQ(c.del(list, "pod", ns).code, 0);  // the runtime's DEL after the failed ADD
    EXPECT_EQ(c.leases(data), std::vector<std::string>{});
    // Positive control: with the name free the same ADD leases an address.
    c.l.in("ip link del eth0", ns);
    auto ok = c.add(list, "pod", ns);
    ASSERT_EQ(ok.code, 0) << ok.raw;
    EXPECT_EQ(c.leases(data), std::vector<std::string>{ip_of(ok)});

    // Leases moat refuses after host-local made them are released before the
    // error: one outside the subnet the network's pods are on, an IPv6 one.
    std::string other = c.l.dir() + "/other", v6 = c.l.dir() + "/v6";
    auto ns2 = c.l.add_ns("q");
    auto outside = c.add(chain_lab::conflist({c.moat_ipam("10.78.0.0/24", other)}), "pod2", ns2);
    EXPECT_EQ(outside.out["code"], 7) << outside.raw;
    EXPECT_NE(outside.raw.find("outside 10.77.0.0/24"), std::string::npos) << outside.raw;
    EXPECT_EQ(c.leases(other), std::vector<std::string>{});
    auto six = c.add(chain_lab::conflist({c.moat_ipam("fd00:77::/64", v6)}), "pod2", ns2);
    EXPECT_EQ(six.out["code"], 7) << six.raw;
    EXPECT_NE(six.raw.find("IPv6"), std::string::npos) << six.raw;
    EXPECT_EQ(c.leases(v6), std::vector<std::string>{});
    EXPECT_EQ(c.l.in("ip -o link show eth0 2>/dev/null || true", ns2).out, "");
    EXPECT_EQ(body_from(c.l, ns, "http://" + web4 + "/"), uplink4 + "\n");  // the first pod is untouched
    EXPECT_EQ(c.del(list, "pod", ns).code, 0);
    EXPECT_EQ(c.leases(data), std::vector<std::string>{});
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

}  // namespace
}  // namespace moat::test
