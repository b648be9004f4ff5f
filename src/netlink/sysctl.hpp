// Per-namespace sysctls through /proc/sys. The files under /proc/sys/net
// belong to the network namespace of the *calling thread* at the time the
// file is opened (the kernel looks the sysctl table up via
// current->nsproxy->net_ns), so to set "net/ipv4/ip_forward" for a container
// or lab host, call these inside a netns_guard for that namespace.
#pragma once

#include <string>

namespace moat::netlink {

// `key` is relative to /proc/sys, with '/' separators ("net/ipv4/ip_forward")
// or, when it contains no '/', sysctl(8)'s dots ("net.ipv4.ip_forward").
// Keys with ".." components or a leading '/' are moat::error.
void set_sysctl(const std::string& key, const std::string& value);
// The value without its trailing newline.
std::string get_sysctl(const std::string& key);

}  // namespace moat::netlink
