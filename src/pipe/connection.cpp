#include "pipe/connection.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pipe/workers.hpp"

namespace moat::pipe {

namespace {

bool is_socket(int fd) {
    struct stat st{};
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

}  // namespace

connection::connection(loop_context& ctx, std::uint64_t id, sys::unique_fd enc_fd, sys::unique_fd plain_in_fd,
                       sys::unique_fd plain_out_fd, std::vector<sock_addr> targets)
    : _ctx(ctx), _id(id), _targets(std::move(targets)) {
    _slots[enc].fd = std::move(enc_fd);
    _slots[plain_in].fd = std::move(plain_in_fd);
    _slots[plain_out].fd = std::move(plain_out_fd);
    _slots[plain_out].alias = !_slots[plain_out].fd;
    if (!_slots[plain_out].alias) {
        // spipe's stdin/stdout may be pipes, files or sockets; elsewhere
        // every descriptor is a socket and the fstat calls are saved.
        _slots[plain_in].socket = is_socket(_slots[plain_in].fd.get());
        _slots[plain_out].socket = is_socket(_slots[plain_out].fd.get());
    }
    _hs = std::make_unique<handshake>(ctx.side, *ctx.key, *ctx.group, ctx.no_pfs, ctx.require_pfs);
    submit_job();
    ctx.add_deadline(_id, _deadline = clock::now() + ctx.timeout);
    if (_slots[enc].fd) {
        // -d: the client is already here; the handshake runs while the
        // plaintext target is being connected.
        _hs_io = true;
        handshake_write();
    }
    if ((!_slots[enc].fd || !_slots[plain_in].fd) && !try_next_target()) {
        fail();
    }
    if (!_finished) {
        update_interest();
    }
}

connection::~connection() {
    for (auto& s : _slots) {
        // Closing a socket drops its registration; stdio descriptors have
        // other copies (fds 0 and 1), so theirs must be removed explicitly.
        if (s.fd && s.in_epoll && !s.socket) {
            epoll_ctl(_ctx.epoll_fd, EPOLL_CTL_DEL, s.fd.get(), nullptr);
        }
    }
    if (_carry) {
        wipe(_carry.get(), packet_size);
    }
}

int connection::fd_of(int slot) const { return _slots[real_slot(slot)].fd.get(); }

void connection::fail() {
    _failed = true;
    _finished = true;
}

bool connection::try_next_target() {
    int slot = _slots[enc].fd ? int(plain_in) : int(enc);
    while (_target_index < _targets.size()) {
        const sock_addr& addr = _targets[_target_index++];
        bool in_progress = false;
        try {
            _slots[slot].fd = start_connect(addr, &in_progress);
        } catch (const std::exception&) {
            continue;  // spiped also just tries the next address
        }
        _slots[slot].socket = true;
        _slots[slot].in_epoll = false;
        tune_socket(_slots[slot].fd.get(), addr.family(), _ctx.keepalive);
        _connecting = slot;
        if (in_progress && slot == enc && !early_nonce()) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;  // still connecting: epoll reports the outcome
            }
            _slots[slot] = fd_slot{};
            continue;
        }
        if (!in_progress || slot == enc) {
            target_connected(slot);
        }
        return true;
    }
    return false;
}

// A loopback (or LAN) connect has usually completed by the time connect()
// returns EINPROGRESS. Sending the nonce at once proves it (a socket still
// connecting refuses with EAGAIN) and saves an epoll round trip and the
// getsockopt(SO_ERROR) per connection. False with errno set otherwise.
bool connection::early_nonce() {
    auto& out = _hs->output();
    _hs_out.insert(_hs_out.end(), out.begin(), out.end());
    out.clear();
    ssize_t w = do_write(enc, _hs_out.data(), _hs_out.size());
    if (w < 0) {
        return false;
    }
    _hs_out.erase(_hs_out.begin(), _hs_out.begin() + w);
    return true;
}

void connection::target_connected(int slot) {
    _connecting = -1;
    if (slot == enc) {
        // -e / spipe: the handshake (and its timeout) starts now.
        _hs_io = true;
        _ctx.add_deadline(_id, _deadline = clock::now() + _ctx.timeout);
        handshake_write();
    }
    maybe_start_data();
}

void connection::on_deadline() {
    if (!_data && !_finished && clock::now() >= _deadline) {
        fail();
    }
}

void connection::submit_job() {
    if (auto job = _hs->take_job()) {
        _ctx.workers->submit(_id, std::move(job));
    }
}

void connection::on_job_done(const std::shared_ptr<dh_job>& job, bool ok) {
    if (_finished || !_hs) {
        return;
    }
    if (!ok) {
        fail();
        return;
    }
    _hs->complete_job(job);
    submit_job();
    if (_hs_io) {
        handshake_write();
    }
    maybe_start_data();
    if (!_finished) {
        update_interest();
    }
}

void connection::handshake_read(bool until_block) {
    // Exactly what the handshake can use, so no data packet is read here;
    // the nonce and the public value often arrive together, hence the loop.
    while (_hs && _hs->wanted() > 0 && !_finished) {
        std::uint8_t buf[320];
        std::size_t want = std::min(_hs->wanted(), sizeof buf);
        ssize_t r = ::read(fd_of(enc), buf, want);
        if (r < 0 && (would_block() || errno == EINTR)) {
            return;
        }
        if (r <= 0) {
            fail();  // the peer went away or broke mid-handshake
            return;
        }
        _hs->feed({buf, std::size_t(r)});
        if (_hs->status() == handshake::state::failed) {
            fail();
            return;
        }
        submit_job();
        handshake_write();
        maybe_start_data();
        if (std::size_t(r) < want && !until_block) {
            return;  // drained; only a pending EOF (until_block) needs another read
        }
    }
}

void connection::handshake_write() {
    auto& out = _hs->output();
    _hs_out.insert(_hs_out.end(), out.begin(), out.end());
    out.clear();
    if (!_hs_io || _hs_out.empty()) {
        return;
    }
    ssize_t w = do_write(enc, _hs_out.data(), _hs_out.size());
    if (w < 0) {
        if (!would_block()) {
            fail();
        }
        return;
    }
    _hs_out.erase(_hs_out.begin(), _hs_out.begin() + w);
}

void connection::maybe_start_data() {
    if (_data || _finished || !_hs || _hs->status() != handshake::state::done || _connecting >= 0 ||
        !_slots[enc].fd || !_slots[plain_in].fd) {
        return;
    }
    _sealer.emplace(_hs->keys().out);
    _opener.emplace(_hs->keys().in);
    _hs.reset();  // wipes the handshake secrets
    // Handshake bytes not sent yet go out before the first packet.
    _seal.pending = std::move(_hs_out);
    _seal.pending_off = 0;
    _data = true;
    // Whatever arrived during the handshake is read now rather than after
    // another trip through epoll (connection latency is in the benchmark).
    // Edges of a registered source may have come and gone, so it is read
    // until it blocks; one not registered yet gets its current state
    // reported by EPOLL_CTL_ADD, so a short read is enough (saves an EAGAIN).
    pump_drain(_seal, _slots[real_slot(_seal.src)].in_epoll);
    pump_drain(_open, _slots[real_slot(_open.src)].in_epoll);
}

ssize_t connection::do_write(int slot, const std::uint8_t* data, std::size_t n) {
    int fd = fd_of(slot);
    for (;;) {
        ssize_t w = _slots[real_slot(slot)].socket ? ::send(fd, data, n, MSG_NOSIGNAL) : ::write(fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        return w;
    }
}

void connection::on_event(int slot, std::uint32_t events) {
    if (_finished) {
        return;
    }
    if (slot == _connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd_of(slot), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
            target_connected(slot);
        } else {
            _slots[slot] = fd_slot{};
            if (!try_next_target()) {
                fail();
            }
        }
    } else if (events & EPOLLERR) {
        fail();
    } else {
        const bool readable = events & (EPOLLIN | EPOLLHUP);
        if (readable && slot == enc && !_data && _hs_io && _hs && _hs->wanted() > 0) {
            handshake_read(events & (EPOLLRDHUP | EPOLLHUP));
        } else if (readable && _data) {
            pump* p = slot == enc ? &_open : slot == plain_in ? &_seal : nullptr;
            if (p) {
                pump_drain(*p, events & (EPOLLRDHUP | EPOLLHUP));
            }
        }
        if ((events & EPOLLOUT) && !_finished) {
            if (slot == enc && !_data) {
                handshake_write();
                maybe_start_data();
            } else if (slot == enc && _data && !_seal.pending.empty()) {
                pump_flush(_seal);
            }
            if (real_slot(plain_out) == slot && _data && !_open.pending.empty() && !_finished) {
                pump_flush(_open);
            }
        }
        if ((events & EPOLLHUP) && !_finished) {
            on_hangup(slot);
        }
    }
    if (!_finished) {
        update_interest();
    }
}

// EPOLLHUP (without EPOLLERR) means both directions of the descriptor are
// shut, and epoll reports it even with an empty event mask, so the slot
// leaves epoll and its remaining input is read directly.
void connection::on_hangup(int slot) {
    pump* into = slot == enc ? &_seal : real_slot(plain_out) == slot ? &_open : nullptr;
    if (!_data || (into && !into->done)) {
        fail();  // nothing more can be written there
        return;
    }
    fd_slot& s = _slots[slot];
    if (s.in_epoll) {
        epoll_ctl(_ctx.epoll_fd, EPOLL_CTL_DEL, s.fd.get(), nullptr);
        s.in_epoll = false;
    }
    s.hup = true;
    pump* from = slot == enc ? &_open : slot == plain_in ? &_seal : nullptr;
    if (from) {
        pump_drain(*from, true);
    }
}

void connection::update_interest() {
    std::uint32_t want[3] = {0, 0, 0};
    const bool hs_read = !_data && _hs_io && _hs && _hs->wanted() > 0;
    if (hs_read || (_data && !_open.src_eof && _open.pending.empty())) {
        want[enc] |= EPOLLIN;
    }
    if (_connecting == enc || (!_data && !_hs_out.empty()) || (_data && !_seal.pending.empty())) {
        want[enc] |= EPOLLOUT;
    }
    if (_data && !_seal.src_eof && _seal.pending.empty()) {
        want[plain_in] |= EPOLLIN;
    }
    if (_connecting == plain_in) {
        want[plain_in] |= EPOLLOUT;
    }
    if (_data && !_open.pending.empty()) {
        want[real_slot(plain_out)] |= EPOLLOUT;
    }
    for (int i = 0; i < 3; ++i) {
        fd_slot& s = _slots[i];
        if (s.alias || !s.fd || s.hup) {
            continue;
        }
        if (s.always_ready) {
            if (want[i]) {
                _ctx.always_ready.push_back(token(_id, i));
            }
            continue;
        }
        // Each descriptor is registered once, edge-triggered, for both
        // directions, when something is first wanted from it: the readers
        // drain what an edge announces and the writers wait for the next
        // EPOLLOUT edge after a short write, so interest never changes and
        // no EPOLL_CTL_MOD is needed (they were 2-3 per connection).
        if (s.in_epoll || want[i] == 0) {
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = token(_id, i);
        if (epoll_ctl(_ctx.epoll_fd, EPOLL_CTL_ADD, s.fd.get(), &ev) == 0) {
            s.in_epoll = true;
        } else if (errno == EPERM) {
            // Regular files and /dev/null cannot be polled; they never block.
            s.always_ready = true;
            if (want[i]) {
                _ctx.always_ready.push_back(token(_id, i));
            }
        } else {
            fail();
            return;
        }
    }
}

}  // namespace moat::pipe
