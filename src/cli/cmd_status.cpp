// moat status [--json]: what runs, from the state directory and the live
// kernel/process state. The JSON shape is documented in docs/JSON.md.
#include "cli/commands.hpp"
#include "container/runtime.hpp"
#include "netlink/netlink.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "tunnel/health.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"
#include "sys/fs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace moat::cli {

namespace {

nlohmann::json container_json(const state::store& store, const state::container_record& r) {
    auto p = plan::plan_from_json(r.spec);
    bool alive = container::running(r);
    nlohmann::json addrs = nlohmann::json::object();
    if (p.v4) {
        addrs["host"] = p.v4->host.address.str();
        addrs["local"] = p.v4->local.address.str();
    }
    if (p.v6) {
        addrs["host6"] = p.v6->host.address.str();
        addrs["local6"] = p.v6->local.address.str();
    }
    nlohmann::json forwards = nlohmann::json::array();
    for (const auto& f : p.forwards) {
        forwards.push_back({{"protocol", f.protocol}, {"host_port", f.host_port}, {"container_port", f.container_port},
                            {"host_address", f.host_address ? nlohmann::json(f.host_address->str()) : nlohmann::json()},
                            {"side", f.side}});
    }
    std::string network = !p.private_network ? "host" : p.host_if.empty() ? "loopback" : p.network.empty() ? "veth" : "bridge";
    return {{"name", r.name},
            // A `moat run` container kept after its command ended is "exited"
            // (its record says so); any other whose init is gone, "stopped".
            {"state", alive ? r.status : r.status == "exited" ? "exited" : "stopped"},
            {"pid", alive ? r.init.pid : 0},
            {"network", network},
            {"host_interface", p.host_if},
            {"bridge", p.network.empty() ? nlohmann::json() : nlohmann::json{{"network", p.network}, {"interface", p.bridge_if}}},
            {"addresses", addrs},
            {"egress", p.egress},
            {"tunnel", p.egress == "vpn" ? nlohmann::json(p.tunnel) : nlohmann::json()},
            {"uplink", p.uplink},
            {"forward_ports", forwards},
            {"allowed_tcp_ports", p.tcp_ports},
            {"allowed_udp_ports", p.udp_ports},
            {"cgroup", r.cgroup},
            {"origin", r.origin},
            {"source", r.source},
            // A CNI attachment (origin "cni"): whose it is; null otherwise.
            {"cni", r.origin == "cni" ? nlohmann::json{{"network", r.cni.value("network", "")},
                                                       {"container_id", r.cni.value("container_id", "")},
                                                       {"ifname", r.cni.value("ifname", "")},
                                                       {"netns", r.cni.value("netns", "")}}
                                      : nlohmann::json()},
            {"services", alive && r.origin != "cni" ? store.services(r.name) : nlohmann::json::object()}};
}

std::string egress_text(const nlohmann::json& c) {
    return c["tunnel"].is_string() ? "vpn:" + c["tunnel"].get<std::string>() : c["egress"].get<std::string>();
}

// Pipes are services named "pipe-<name>" of their container, or of the
// internal `_pipes` container for pipes on the host's network.
void collect_pipes(const nlohmann::json& container, nlohmann::json& pipes) {
    for (const auto& [name, svc] : container["services"].items()) {
        if (name.rfind("pipe-", 0) != 0) {
            continue;
        }
        nlohmann::json p = svc;
        p["name"] = name.substr(5);
        p["container"] = container["name"] == plan::host_pipes_container ? nlohmann::json() : container["name"];
        pipes.push_back(p);
    }
}

// Tunnels are the services "tunnel-<name>" of the internal `_tunnels`
// container; their device state comes from the kernel.
void collect_tunnels(const nlohmann::json& container, const plan::container_plan& p, nlohmann::json& tunnels) {
    auto nl = netlink::socket::open();
    for (const auto& s : p.services) {
        if (s.name.rfind("tunnel-", 0) != 0 || s.argv.size() < 3) {
            continue;
        }
        auto t = plan::tunnel_from_json(nlohmann::json::parse(s.argv[2]));
        nlohmann::json j = container["services"].value(s.name, nlohmann::json::object());
        auto link = nl.link(t.device);
        j["name"] = t.name;
        j["type"] = t.type;
        j["device"] = t.device;
        j["table"] = t.table;
        const bool device_up = link && link->up;
        j["device_up"] = device_up;
        // Whether the far end answers (tunnel/health.hpp), not just the device.
        auto h = tunnel::health{};
        if (device_up && container.value("state", "") == "running") {
            h = tunnel::read_health(t, container["pid"].get<pid_t>());
        } else if (!device_up) {
            h.state = "down";
            h.evidence = t.device + (link ? " down" : " missing");
        }
        j["health"] = {{"state", h.state}, {"evidence", h.evidence}};
        if (h.last_handshake) {
            j["health"]["last_handshake"] = *h.last_handshake;
        }
        if (h.last_received) {
            j["health"]["last_received"] = *h.last_received;
        }
        if (!h.last_error.empty()) {
            j["health"]["last_error"] = h.last_error;
        }
        if (h.since) {
            j["health"]["since"] = *h.since;
        }
        tunnels.push_back(j);
    }
}

// Every state file moat cannot read, and every entry of containers/ it did
// not make (docs/JSON.md, "damaged").
nlohmann::json damaged_json(const state::store& store, const state::listing& l) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : l.damaged) {
        out.push_back({{"name", d.name}, {"path", d.file}, {"problem", d.problem}});
    }
    for (const auto& f : l.foreign) {
        out.push_back({{"name", nullptr}, {"path", f}, {"problem", "not a container moat made: left alone"}});
    }
    if (auto problem = store.read_host().problem; !problem.empty()) {
        out.push_back({{"name", nullptr}, {"path", "host.json"}, {"problem", problem}});
    }
    return out;
}

}  // namespace

int cmd_status(const globals& g, bool json) {
    state::store store(g.state_dir);
    nlohmann::json out = {{"version", 1}, {"state_dir", g.state_dir}, {"containers", nlohmann::json::array()},
                          {"pipes", nlohmann::json::array()}, {"tunnels", nlohmann::json::array()},
                          {"damaged", nlohmann::json::array()}};
    // Read-only: a missing state dir is not created; it means no containers.
    if (store.exists()) {
        auto listing = store.scan();
        for (const auto& r : listing.records) {
            auto c = container_json(store, r);
            collect_pipes(c, out["pipes"]);
            if (r.name == plan::tunnels_container) {
                collect_tunnels(c, plan::plan_from_json(r.spec), out["tunnels"]);
            } else if (r.name != plan::host_pipes_container) {
                out["containers"].push_back(c);
            }
        }
        out["damaged"] = damaged_json(store, listing);
    }
    if (json) {
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    if (out["containers"].empty() && out["pipes"].empty() && out["damaged"].empty()) {
        std::printf("no containers\n");
        return 0;
    }
    // EGRESS as the file spells it ("vpn:<tunnel>"), as wide as the widest.
    int egress_width = 7;
    for (const auto& c : out["containers"]) {
        egress_width = std::max(egress_width, static_cast<int>(egress_text(c).size()));
    }
    if (!out["containers"].empty()) {
        std::printf("%-20s %-9s %-8s %-16s %-*s %s\n", "NAME", "STATE", "PID", "ADDRESS", egress_width, "EGRESS",
                    "SERVICES");
    }
    for (const auto& c : out["containers"]) {
        std::string addr = c["addresses"].value("local", std::string(c["network"]));
        std::string services;
        for (const auto& [name, s] : c["services"].items()) {
            services += (services.empty() ? "" : ", ") + name + " " + s.value("state", "?");
        }
        if (!c["cni"].is_null()) {  // the engine's pod: its processes are not moat's
            services = "cni " + c["cni"]["container_id"].get<std::string>().substr(0, 12) + "/" +
                       c["cni"]["ifname"].get<std::string>();
        }
        int pid = c["pid"].get<int>();
        std::printf("%-20s %-9s %-8s %-16s %-*s %s\n", c["name"].get<std::string>().c_str(),
                    c["state"].get<std::string>().c_str(), pid > 0 ? std::to_string(pid).c_str() : "-", addr.c_str(), egress_width,
                    egress_text(c).c_str(), services.empty() ? "-" : services.c_str());
    }
    if (!out["damaged"].empty()) {
        std::printf("\n%-20s %-9s %s\n", "DAMAGED", "STATE", "FILE");
        for (const auto& d : out["damaged"]) {
            std::printf("%-20s %-9s %s: %s\n", d["name"].is_null() ? "-" : d["name"].get<std::string>().c_str(),
                        "damaged", d["path"].get<std::string>().c_str(), d["problem"].get<std::string>().c_str());
        }
    }
    if (!out["tunnels"].empty()) {
        std::printf("\n%-20s %-10s %-16s %-9s %-11s %s\n", "TUNNEL", "TYPE", "DEVICE", "DAEMON", "TUNNEL",
                    "EVIDENCE");
        for (const auto& t : out["tunnels"]) {
            std::printf("%-20s %-10s %-16s %-9s %-11s %s\n", t["name"].get<std::string>().c_str(),
                        t["type"].get<std::string>().c_str(), t["device"].get<std::string>().c_str(),
                        t.value("state", "?").c_str(), t["health"]["state"].get<std::string>().c_str(),
                        t["health"]["evidence"].get<std::string>().c_str());
        }
    }
    if (!out["pipes"].empty()) {
        std::printf("\n%-20s %-12s %-9s %s\n", "PIPE", "CONTAINER", "STATE", "RESTARTS");
        for (const auto& p : out["pipes"]) {
            std::printf("%-20s %-12s %-9s %d\n", p["name"].get<std::string>().c_str(),
                        p["container"].is_null() ? "(host)" : p["container"].get<std::string>().c_str(),
                        p.value("state", "?").c_str(), p.value("restarts", 0));
        }
    }
    return 0;
}

}  // namespace moat::cli
