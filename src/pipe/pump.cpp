// The data phase of a connection: the two pumps (see connection.hpp).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pipe/connection.hpp"

namespace moat::pipe {

namespace {

constexpr std::size_t seal_read_size = 256 * max_payload;

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

}  // namespace

// Returns false when nothing could be read (would block).
bool connection::pump_read(pump& p) {
    p.full_read = false;
    const bool sealing = &p == &_seal;
    std::uint8_t* in = _ctx.in_buf.data();
    std::size_t have = 0;
    if (!sealing && _carry_len) {
        std::memcpy(in, _carry.get(), _carry_len);
        have = _carry_len;
    }
    std::size_t room = sealing ? seal_read_size : _ctx.in_buf.size() - have;
    ssize_t r;
    do {
        r = ::read(fd_of(p.src), in + have, room);
    } while (r < 0 && errno == EINTR);
    p.full_read = r > 0 && std::size_t(r) == room;
    if (r < 0) {
        if (!would_block()) {
            fail();
        }
        return false;
    }
    if (r == 0) {
        src_finished(p);
        return true;
    }
    if (sealing) {
        seal_chunk(p, std::size_t(r));
    } else {
        open_chunk(p, have + std::size_t(r));
    }
    return true;
}

void connection::seal_chunk(pump& p, std::size_t n) {
    long produced = _sealer->seal_stream({_ctx.in_buf.data(), n}, _ctx.out_buf.data());
    if (produced < 0) {
        fail();  // 2^64 packets: the counter must not wrap
        return;
    }
    deliver(p, _ctx.out_buf.data(), std::size_t(produced));
}

void connection::open_chunk(pump& p, std::size_t n) {
    const std::uint8_t* in = _ctx.in_buf.data();
    std::uint8_t* out = _ctx.out_buf.data();
    std::size_t produced = 0, off = 0;
    bool bad = false;
    for (; off + packet_size <= n; off += packet_size) {
        std::size_t len = 0;
        if (!_opener->open(in + off, out + produced, &len)) {
            bad = true;
            break;
        }
        produced += len;
    }
    if (!bad) {
        _carry_len = n - off;
        if (_carry_len) {
            if (!_carry) {
                _carry = std::make_unique<std::uint8_t[]>(packet_size);
            }
            std::memcpy(_carry.get(), in + off, _carry_len);
        }
    }
    // Packets before a bad one were authentic; the bad one is never delivered.
    deliver(p, out, produced);
    if (bad) {
        fail();
    }
}

void connection::deliver(pump& p, const std::uint8_t* data, std::size_t n) {
    if (n == 0 || _finished) {
        return;
    }
    ssize_t w = do_write(p.dst, data, n);
    if (w < 0) {
        if (!would_block()) {
            fail();
            return;
        }
        w = 0;
    }
    if (std::size_t(w) < n) {
        p.pending.assign(data + w, data + n);
        p.pending_off = 0;
    }
}

void connection::pump_flush(pump& p) {
    while (p.pending_off < p.pending.size()) {
        ssize_t w = do_write(p.dst, p.pending.data() + p.pending_off, p.pending.size() - p.pending_off);
        if (w < 0) {
            if (!would_block()) {
                fail();
            }
            return;
        }
        p.pending_off += std::size_t(w);
    }
    // Give the memory back: idle connections should cost almost nothing.
    std::vector<std::uint8_t>().swap(p.pending);
    p.pending_off = 0;
    if (p.src_eof) {
        src_finished(p);
        return;
    }
    // Edges that arrived while we were blocked were not acted on (and a
    // hung-up source is out of epoll for good): read until it blocks.
    pump_drain(p, true);
}

// Reads while the pump may: after a short read an edge-triggered source
// only needs reading again if the event said EOF is pending (EPOLLRDHUP),
// or when the caller missed edges; that saves an EAGAIN read per event.
void connection::pump_drain(pump& p, bool until_block) {
    while (!_finished && !p.src_eof && p.pending.empty() && pump_read(p)) {
        if (!until_block && !p.full_read) {
            return;
        }
    }
}

void connection::src_finished(pump& p) {
    p.src_eof = true;
    if (&p == &_open) {
        _carry_len = 0;  // a partial packet at EOF is dropped
    }
    if (!p.pending.empty() || p.done) {
        return;
    }
    p.done = true;
    if (_seal.done && _open.done) {
        // Both directions are over and both sources were read to EOF, so
        // the close() that follows sends a FIN; a shutdown() is redundant.
        _finished = true;
        return;
    }
    fd_slot& dst = _slots[real_slot(p.dst)];
    if (dst.socket) {
        ::shutdown(dst.fd.get(), SHUT_WR);
    } else if (!_slots[p.dst].alias) {
        // A pipe (spipe's stdout) has no half-close: closing it is the EOF.
        if (dst.in_epoll) {
            epoll_ctl(_ctx.epoll_fd, EPOLL_CTL_DEL, dst.fd.get(), nullptr);
        }
        dst.fd.reset();
        dst.in_epoll = false;
    }
}

}  // namespace moat::pipe
