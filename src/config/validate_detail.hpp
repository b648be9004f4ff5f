// Internal to moat::config: the validator behind validate(), split across
// validate.cpp (container addressing) and validate_relations.cpp (networks,
// tunnels, ports, pipes, service ordering).
#pragma once

#include "config/diagnostics.hpp"

#include <optional>
#include <string>

namespace moat::config {

class validator {
public:
    explicit validator(const model& m) : _m(m), _d(m.source_file) {}
    // Throws config_error listing every problem.
    void run();

private:
    const model& _m;
    diagnostics _d;

    // Where `key` was written, or the object's own location for models not
    // loaded from a file.
    static location key_at(const key_locations& keys, const std::string& key, const location& fallback);

    void check_container_network(const container& c);
    void check_address_kinds(const container& c);
    void check_pair(const container& c, const std::optional<sys::ip_prefix>& host, const char* host_key,
                    const std::optional<sys::ip_prefix>& local, const char* local_key);
    void check_shared_subnet(const container& c, const sys::ip_prefix& host, const char* host_key,
                             const sys::ip_prefix& local, const char* local_key);
    void check_bridge(const container& c);
    void check_member_address(const container& c, const char* key, const std::optional<sys::ip_prefix>& address,
                              const std::optional<sys::ip_prefix>& subnet, const network& net);
    void check_dns(const container& c);
    void check_privileges(const container& c);
    void check_duplicate_addresses();
    void check_outside_networks(const container& c, const char* key, const sys::ip_address& a, const location& at);

    void check_services(const container& c);
    void check_service_cycles(const container& c);
    void check_networks();
    void check_egress_targets();
    void check_egress_target(const std::optional<egress_spec>& egress, const key_locations& keys, const location& where);
    void check_confined_keys(const container& c);
    void check_forwarded_ports();
    void check_pipes();
    void check_tunnel_credentials();
};

}  // namespace moat::config
