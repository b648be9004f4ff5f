// Delegation to an IPAM plugin: a network configuration with an `ipam`
// object instead of `subnet` gets the pod's address from the plugin it names
// (host-local, static, dhcp, whereabouts...), as the reference `bridge`
// plugin does through containernetworking/plugins' pkg/ipam.
//
// Theory of operation. libcni's delegation (invoke.DelegateAdd/Del/Check) is
// simple and we do exactly it: find the binary named `ipam.type` in the
// directories of CNI_PATH, run it with our own environment (CNI_COMMAND set
// to the verb, every other CNI_* variable as the runtime gave it), the whole
// network configuration on stdin, and read its stdout. Exit status 0 means
// a result (ADD) or nothing (DEL, CHECK); anything else means its stdout is
// an error object, which becomes our error unchanged (code, msg, details) so
// the runtime sees the IPAM plugin's own words. No shell: posix_spawn with
// three pipes, the child's signal mask and SIGPIPE reset to the defaults.
//
// The lease is owned by the plugin's store (host-local: a file per address
// in its dataDir), so every path that gives up an ADD after the IPAM ADD —
// a lease moat refuses, a kernel error, a firewall commit that fails — must
// run the IPAM DEL before it returns its error, or the address is lost until
// the engine's DEL. `lease` is that guard.
#pragma once

#include "cni/netconf.hpp"
#include "cni/protocol.hpp"
#include "cni/result.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::cni::ipam {

// The first `dir/type` of `path` that is an executable regular file.
// Throws error(invalid_config) "failed to find plugin ..." as libcni words it.
std::string find_plugin(const std::string& type, const std::vector<std::string>& path);

// What one run of a plugin gave.
struct output {
    int status = 0;  // the exit status; 128 + n for a death by signal n
    std::string out, err;
};

// Runs `plugin` with the process environment, CNI_COMMAND = `command` and
// each of `overrides` set, and `stdin_text` on its stdin.
output run(const std::string& plugin, const std::string& command, const std::string& stdin_text,
           const std::map<std::string, std::string>& overrides = {});

// The error a failed run reports: the plugin's error object passed through,
// or (no object on stdout) error(internal) naming the status and stderr.
error error_of(const output& o, const std::string& type);

// The IPAM plugin's result of an ADD, any supported version. Throws
// error(decoding_failure) naming what it cannot read.
result parse_result(const std::string& out, const std::string& type);

// The verbs, for request `r` of a configuration with `nc.ipam_type` set.
// `overrides` replace CNI_* variables (GC releases other attachments).
result exec_add(const request& r, const netconf& nc);
void exec_del(const request& r, const netconf& nc, const std::map<std::string, std::string>& overrides = {});
void exec_check(const request& r, const netconf& nc);

// An IPAM ADD that is undone (IPAM DEL) unless keep() is called: the
// failed-ADD path of the reference plugins' `defer ipam.ExecDel`. Without
// `ipam` in the configuration it does nothing and holds no result.
class lease {
public:
    lease(const request& r, const netconf& nc);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    const std::optional<result>& leased() const { return _result; }
    void keep() { _kept = true; }

private:
    const request& _r;
    const netconf& _nc;
    std::optional<result> _result;
    bool _kept = false;
};

}  // namespace moat::cni::ipam
