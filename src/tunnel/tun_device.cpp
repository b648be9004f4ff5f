#include "tunnel/tun_device.hpp"

#include "netlink/owner.hpp"
#include "sys/error.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace moat::tunnel {

namespace {

// The instance whose runner this is ("" for a runner started by a moat
// before instances had ids, or by hand).
std::string owner() {
    const char* id = std::getenv(owner_env);
    return id ? id : "";
}

}  // namespace

sys::unique_fd create_tun(const std::string& name, short flags) {
    netlink::validate_ifname(name);
    sys::unique_fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening /dev/net/tun");
    }
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    ifr.ifr_flags = flags;
    sys::check(::ioctl(fd.get(), TUNSETIFF, &ifr), "creating tun device " + name);
    if (auto id = owner(); !id.empty()) {
        netlink::socket::open().set_alias(name, netlink::owner_alias(id, "tunnel " + name));
    }
    return fd;
}

void persist_for(int tun_fd, const daemon_identity& who) {
    sys::check(::ioctl(tun_fd, TUNSETOWNER, static_cast<unsigned long>(who.uid)), "setting the tun device's owner");
    sys::check(::ioctl(tun_fd, TUNSETGROUP, static_cast<unsigned long>(who.gid)), "setting the tun device's group");
    sys::check(::ioctl(tun_fd, TUNSETPERSIST, 1ul), "making the tun device persistent");
}

void delete_tun(netlink::socket& nl, const std::string& name) {
    auto link = nl.link(name);
    if (!link) {
        return;
    }
    if (link->kind != "tun") {
        throw moat::error("link " + name + " exists and is not a tun device (" +
                          (link->kind.empty() ? "no kind" : link->kind) + "): moat will not take it over");
    }
    if (auto id = owner(); !id.empty()) {
        auto d = nl.delete_link_if_owned(name, id);
        if (d.what == netlink::owned_deletion::result::kept) {
            throw moat::error(d.reason + ": moat will not take it over");
        }
        return;
    }
    nl.delete_link(name);
}

void make_clone_node(const std::string& path, const daemon_identity& who) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw sys::errno_error("removing " + path);
    }
    sys::check(::mknod(path.c_str(), S_IFCHR | 0600, ::makedev(10, 200)), "creating " + path);
    sys::check(::chown(path.c_str(), who.uid, who.gid), "handing " + path + " to the daemon");
}

}  // namespace moat::tunnel
