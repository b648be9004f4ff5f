// moat as a CNI plugin: the same binary, executed by libcni with
// CNI_COMMAND set (cli/main.cpp hands over before parsing a command line).
//
// Theory of operation. Each attachment becomes a record in moat's state
// directory (origin "cni", no init, cni/pod.hpp) under the same lock, the
// same write-before-make rule and the same one-transaction firewall as
// `moat up`, so `moat status`, `moat check`, `moat down` and `moat gc` see
// pods beside file containers, and the guarantees (no residue, the host's
// own firewall untouched, kill switch before the first packet) are the same
// code's. ADD: record, bridge, veth with its peer created directly in the
// pod's namespace as CNI_IFNAME, addresses and default route, firewall
// commit, record "running", result. DEL: the reverse, tolerating anything
// already gone, and the network's bridge goes with its last member. With an
// `ipam` object the address comes from that plugin (cni/ipam.hpp): its ADD
// before the record, its DEL on every DEL (record or not) and on a failed
// ADD, its CHECK after ours; the first lease fixes the network's subnet.
#pragma once

#include <string>
#include <string_view>

namespace moat::cni {

// One invocation: reads stdin, writes the result or the error object to
// stdout, diagnostics to stderr. Returns the exit status (0 = success).
int run_plugin();

// The same with the request given (tests, and run_plugin()).
struct outcome {
    int status = 0;
    std::string out;  // what goes to stdout
};
outcome handle(std::string_view stdin_text);

}  // namespace moat::cni
