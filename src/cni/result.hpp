// The CNI "Success" result (section 5 of the specification) as a plain
// value, and its JSON in each version moat speaks.
//
// Theory of operation. A chain's result travels between plugins as
// `prevResult` and back to the runtime, which caches it and hands it to
// CHECK and DEL. So the plugin must read a result written by any plugin in
// the chain (host-local's abbreviated IPAM result, portmap's pass-through)
// and write back exactly that version's shape: 0.4.0 carries a "version"
// per IP ("4"/"6") that 1.0.0 dropped. Fields moat does not model (e.g. a
// route's `table`, an interface's `socketPath`) are kept verbatim so a
// pass-through never loses what another plugin put there.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::cni {

struct interface {
    std::string name;
    std::string mac;
    std::string sandbox;  // the netns path for an interface in the container; empty = host
    unsigned mtu = 0;     // 0 = not reported
    nlohmann::json extra = nlohmann::json::object();  // fields moat does not model
    bool operator==(const interface&) const = default;
};

struct ip_config {
    std::string address;  // CIDR, "10.88.0.5/16"
    std::string gateway;  // empty = none
    std::optional<int> interface;  // index into `interfaces`
    bool operator==(const ip_config&) const = default;
};

struct route {
    std::string dst;  // CIDR
    std::string gw;   // empty = none
    nlohmann::json extra = nlohmann::json::object();  // mtu, advmss, priority, table, scope
    bool operator==(const route&) const = default;
};

struct dns {
    std::vector<std::string> nameservers;
    std::string domain;
    std::vector<std::string> search;
    std::vector<std::string> options;
    bool empty() const { return nameservers.empty() && domain.empty() && search.empty() && options.empty(); }
    bool operator==(const dns&) const = default;
};

struct result {
    std::vector<interface> interfaces;
    std::vector<ip_config> ips;
    std::vector<route> routes;
    struct dns dns;
    bool operator==(const result&) const = default;
};

// `version` is the request's cniVersion; 0.4.0 writes each IP's family.
nlohmann::json to_json(const result& r, std::string_view version);
// Reads a result of any supported version (and an IPAM plugin's abbreviated
// one). Throws cni::error(decoding_failure) naming the bad field.
result result_from_json(const nlohmann::json& j);

}  // namespace moat::cni
