// libFuzzer target for the .ovpn sanitiser (tunnel/ovpn_file.hpp, its reader
// tunnel/ovpn_reader.hpp), fed what a provider's file could hold. Whatever
// comes in, the sanitiser refuses it (moat::error) or writes a copy in which
// openvpn, as openvpn_reference.hpp reads it, finds no option that runs or
// loads code or that moat owns, and which openvpn reads whenever it read the
// original.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "openvpn_reference.hpp"
#include "sys/error.hpp"
#include "tunnel/ovpn_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    moat::tunnel::ovpn_config c;
    try {
        c = moat::tunnel::sanitize_ovpn(in, "/p/f.ovpn", "/run/moat-tunnel/f", size % 2 == 0);
    } catch (const moat::error&) {
        return 0;
    }
    auto daemon = moat::test::openvpn::read(c.text);
    if (daemon.fatal && !moat::test::openvpn::read(in).fatal) abort();  // moat broke a file openvpn reads
    if (!daemon.fatal) {
        for (const auto& p : daemon.options) {
            if (moat::test::openvpn::forbidden(p[0])) abort();
            for (std::size_t i = 1; (p[0] == "providers" || p[0] == "engine") && i < p.size(); ++i) {
                if (p[i].find('/') != std::string::npos) abort();  // a shared object by path
            }
        }
    }
    return 0;
}
