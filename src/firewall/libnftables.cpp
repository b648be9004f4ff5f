// libnftables, opened when the firewall is first touched (sys/shared_library.hpp).
//
// Only `up`, `down`, `gc`, `check`, CNI and a `run` with a veth commit or
// read the table; every other command (`status`, `exec`, `logs`, `run
// --network none`, and the container's init, which is a fork of the CLI)
// would otherwise map and relocate libnftables and the five libraries it
// needs (libnftnl, libmnl, libxtables, libjansson, libgmp) for nothing.
// The functions context.cpp calls are defined here under libnftables' own
// names, hidden (never exported, so never interposed on the library's own
// calls), and forward to the system's libnftables.so.1, found once.
#include "sys/shared_library.hpp"

#include <stdint.h>

#pragma GCC visibility push(hidden)
#include <nftables/libnftables.h>

namespace {

// The SONAME of the libnftables moat was built against (CMakeLists.txt).
constexpr moat::sys::shared_library nftables(MOAT_LIBNFTABLES_SONAME, "libnftables1");

}  // namespace

#define MOAT_FORWARD(ret, name, params, args)                                              \
    extern "C" ret name params {                                                           \
        static const auto real = reinterpret_cast<decltype(&name)>(nftables.symbol(#name)); \
        return real args;                                                                  \
    }

MOAT_FORWARD(nft_ctx*, nft_ctx_new, (uint32_t flags), (flags))
MOAT_FORWARD(void, nft_ctx_free, (nft_ctx * ctx), (ctx))
MOAT_FORWARD(void, nft_ctx_set_dry_run, (nft_ctx * ctx, bool dry), (ctx, dry))
MOAT_FORWARD(int, nft_ctx_buffer_output, (nft_ctx * ctx), (ctx))
MOAT_FORWARD(const char*, nft_ctx_get_output_buffer, (nft_ctx * ctx), (ctx))
MOAT_FORWARD(int, nft_ctx_buffer_error, (nft_ctx * ctx), (ctx))
MOAT_FORWARD(const char*, nft_ctx_get_error_buffer, (nft_ctx * ctx), (ctx))
MOAT_FORWARD(int, nft_run_cmd_from_buffer, (nft_ctx * nft, const char* buf), (nft, buf))

#pragma GCC visibility pop
