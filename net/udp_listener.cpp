#include "net/udp_listener.hpp"

#include "base/hash.hpp"
#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace fa::net {

std::string_view to_string(udp_drop d) {
  switch (d) {
  case udp_drop::short_header:
    return "short_header";
  case udp_drop::bad_version:
    return "bad_version";
  case udp_drop::length_mismatch:
    return "datagram_length_mismatch";
  case udp_drop::truncated:
    return "datagram_truncated";
  case udp_drop::too_large:
    return "message_too_large";
  case udp_drop::budget:
    return "budget";
  case udp_drop::refused:
    return "refused";
  case udp_drop::socket_overflow:
    return "socket_overflow";
  }
  return "unknown";
}

// -- udp_peer ---------------------------------------------------------------------------

udp_peer::udp_peer(std::weak_ptr<udp_listener> owner, asio::strand<asio::any_io_executor> strand,
                   asio::ip::udp::endpoint remote)
    : owner_(std::move(owner))
    , strand_(std::move(strand))
    , remote_(remote) {}

void udp_peer::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(reason)]() mutable {
    self->finish(std::move(r));
  });
}

void udp_peer::finish(std::string reason) {
  if (closed_)
    return;
  closed_ = true;
  if (auto owner = owner_.lock())
    owner->forget(this);
  auto f = std::move(on_closed_);
  on_closed_ = nullptr;
  on_frames_ = nullptr;
  if (f)
    f(reason);
}

// -- receive slots ----------------------------------------------------------------------

// Why copy once, and not receive straight into session chunks: a slot must hold the
// largest datagram (65535 octets) before we know its size or its sender, so receiving
// into a chunk would charge 64 KiB of budget for a typical 1400-octet datagram (budgets
// spent ~45x too fast, memory pinned by every chunk an enricher still holds), and the
// budget to charge is only known after the receive. Instead the slots are reused, and
// each batch makes one chunk per exporter, sized to exactly that exporter's datagrams,
// with one memcpy per datagram: cheap next to the system call and the actor message.
struct udp_listener::slots {
  static constexpr std::size_t slot_size = 65536; // > 65535, so MSG_TRUNC cannot happen

  explicit slots(std::size_t n)
      : data(new std::uint8_t[n * slot_size])
      , hdrs(n)
      , iovs(n)
      , addrs(n)
      , next(n, -1) {}

  /// The kernel overwrites the lengths and flags: reset them before every call.
  void prepare() {
    for (std::size_t i = 0; i < hdrs.size(); ++i) {
      iovs[i].iov_base = data.get() + i * slot_size;
      iovs[i].iov_len = slot_size;
      auto& h = hdrs[i].msg_hdr;
      h.msg_name = &addrs[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &iovs[i];
      h.msg_iovlen = 1;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
      hdrs[i].msg_len = 0;
    }
  }

  const std::uint8_t* slot(std::size_t i) const { return data.get() + i * slot_size; }

  std::unique_ptr<std::uint8_t[]> data;
  std::vector<mmsghdr> hdrs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_storage> addrs;
  std::vector<int> next; ///< next slot of the same exporter in this batch, or -1
};

// -- udp_listener -----------------------------------------------------------------------

std::size_t udp_listener::peer_key_hash::operator()(const peer_key& k) const noexcept {
  return static_cast<std::size_t>(base::address_hash(k.addr.data(), std::uint64_t{k.port} << 48));
}

udp_listener::peer_key udp_listener::key_of(const asio::ip::udp::endpoint& ep) {
  peer_key k;
  k.port = ep.port();
  if (ep.address().is_v4())
    k.addr = asio::ip::make_address_v6(asio::ip::v4_mapped, ep.address().to_v4()).to_bytes();
  else
    k.addr = ep.address().to_v6().to_bytes();
  return k;
}

namespace {

/// The key of a received datagram's sender, straight from its sockaddr (no asio
/// endpoint per datagram). IPv4 senders take the v4-mapped form, as in `key_of`.
bool key_from_sockaddr(const sockaddr_storage& sa, std::array<std::uint8_t, 16>& addr,
                       std::uint16_t& port) {
  if (sa.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(sa);
    std::memcpy(addr.data(), &s6.sin6_addr, 16);
    port = ntohs(s6.sin6_port);
    return true;
  }
  if (sa.ss_family == AF_INET) {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(sa);
    addr.fill(0);
    addr[10] = 0xff;
    addr[11] = 0xff;
    std::memcpy(addr.data() + 12, &s4.sin_addr, 4);
    port = ntohs(s4.sin_port);
    return true;
  }
  return false;
}

/// RFC 7011 3.3.2: whether a (well-formed) message holds a template or an options
/// template set (set id 2 or 3). Walks the set headers only.
bool has_template_set(const std::uint8_t* msg, std::size_t len) {
  for (std::size_t off = ipfix::message_header_size; off + 4 <= len;) {
    auto id = ipfix::read_u16(msg + off);
    auto set_len = ipfix::read_u16(msg + off + 2);
    if (id == 2 || id == 3)
      return true;
    if (set_len < 4)
      return false;
    off += set_len;
  }
  return false;
}

asio::ip::udp::endpoint endpoint_from_sockaddr(const sockaddr_storage& sa, socklen_t len) {
  asio::ip::udp::endpoint ep;
  std::memcpy(ep.data(), &sa, std::min<std::size_t>(len, sizeof(sockaddr_storage)));
  ep.resize(len);
  return ep;
}

} // namespace

udp_listener::udp_listener(asio::io_context& ctx, const asio::ip::udp::endpoint& ep,
                           udp_listener_config cfg, accept_handler on_accept,
                           counts_handler on_counts)
    : socket_(ctx)
    , strand_(asio::make_strand(ctx.get_executor()))
    , sweep_timer_(strand_)
    , cfg_(cfg)
    , on_accept_(std::move(on_accept))
    , on_counts_(std::move(on_counts)) {
  cfg_.batch = std::clamp<std::size_t>(cfg_.batch, 1, 1024);
  socket_.open(ep.protocol());
  if (ep.address().is_v6()) {
    // "[::]" receives IPv6 and IPv4 alike (IPv4 senders appear v4-mapped).
    asio::error_code ec;
    socket_.set_option(asio::ip::v6_only(false), ec);
  }
  socket_.bind(ep);
  int fd = socket_.native_handle();
  if (cfg_.receive_buffer > 0) {
    // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; without it the
    // kernel caps SO_RCVBUF at rmem_max. The kernel doubles what it is given (for its
    // bookkeeping), so half the wanted size is asked for.
    int want = static_cast<int>(std::min<std::size_t>(cfg_.receive_buffer / 2, INT_MAX / 2));
    want = std::max(want, 1);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }
  int got = 0;
  socklen_t got_len = sizeof got;
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &got_len) == 0 && got > 0)
    effective_rcvbuf_ = static_cast<std::size_t>(got);
  socket_.non_blocking(true);
  local_ = socket_.local_endpoint();
  slots_ = std::make_unique<slots>(cfg_.batch);
  touched_.reserve(cfg_.batch);
}

udp_listener::~udp_listener() = default;

void udp_listener::start() {
  asio::post(strand_, [self = shared_from_this()] {
    self->wait_readable();
    self->schedule_sweep();
  });
}

void udp_listener::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    asio::error_code ec;
    self->socket_.close(ec);
    self->sweep_timer_.cancel();
  });
}

void udp_listener::wait_readable() {
  if (stopped_)
    return;
  socket_.async_wait(asio::socket_base::wait_read,
                     asio::bind_executor(strand_, [self = shared_from_this()](asio::error_code ec) {
                       if (!ec)
                         self->receive();
                     }));
}

void udp_listener::receive() {
  if (stopped_)
    return;
  // Bounded work per wake-up: at most 16 batches, then yield the thread to other
  // handlers (other sockets, timers) and come back.
  auto now = std::chrono::steady_clock::now();
  for (int round = 0; round < 16; ++round) {
    if (receive_batch(now) < cfg_.batch) {
      wait_readable();
      return;
    }
  }
  asio::post(strand_, [self = shared_from_this()] { self->receive(); });
}

void udp_listener::count(udp_drop d, std::uint64_t n) {
  batch_drops_[static_cast<std::size_t>(d)] += n;
}

// Losses before we could read (the receive buffer was full) are counted too: the socket's
// running count of drops, read once per batch (SO_MEMINFO, SK_MEMINFO_DROPS: the counter
// SO_RXQ_OVFL reports). Asking each datagram to carry it (SO_RXQ_OVFL) costs a control
// message per datagram; one system call per batch is cheaper from ~2 datagrams a batch.
void udp_listener::count_kernel_drops() {
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_MEMINFO, info, &len) != 0 ||
      len <= SK_MEMINFO_DROPS * sizeof(std::uint32_t))
    return;
  // A running count (modulo 2^32): the difference is what was lost since.
  std::uint32_t v = info[SK_MEMINFO_DROPS];
  if (v != kernel_drops_) {
    count(udp_drop::socket_overflow, static_cast<std::uint32_t>(v - kernel_drops_));
    kernel_drops_ = v;
  }
}

std::size_t udp_listener::receive_batch(std::chrono::steady_clock::time_point now) {
  auto& s = *slots_;
  s.prepare();
  int n = -1;
  do {
    n = ::recvmmsg(socket_.native_handle(), s.hdrs.data(), static_cast<unsigned>(cfg_.batch),
                   MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0)
    return 0; // EAGAIN: drained. Other errors of an unconnected UDP socket are transient.
  datagrams_ += static_cast<std::uint64_t>(n);
  count_kernel_drops();
  peer_key key;
  udp_peer* last = nullptr; // exporters send runs of datagrams: skip the lookup
  peer_key last_key;
  std::size_t batch_total = 0;
  for (int i = 0; i < n; ++i) {
    auto& h = s.hdrs[static_cast<std::size_t>(i)];
    if (!key_from_sockaddr(s.addrs[static_cast<std::size_t>(i)], key.addr, key.port))
      continue;
    const std::uint8_t* p = s.slot(static_cast<std::size_t>(i));
    std::size_t len = h.msg_len;
    // RFC 7011 10.3.3: one datagram is one message; its header's length is the datagram's.
    std::optional<udp_drop> bad;
    if ((h.msg_hdr.msg_flags & MSG_TRUNC) != 0)
      bad = udp_drop::truncated;
    else if (len < ipfix::message_header_size)
      bad = udp_drop::short_header;
    else if (ipfix::read_u16(p) != ipfix::ipfix_version)
      bad = udp_drop::bad_version;
    else if (ipfix::read_u16(p + 2) != len)
      bad = udp_drop::length_mismatch;
    else if (len > cfg_.max_message_size)
      bad = udp_drop::too_large;
    udp_peer* peer = nullptr;
    if (last != nullptr && key == last_key) {
      peer = last;
    } else if (auto it = peers_.find(key); it != peers_.end()) {
      peer = it->second.get();
    }
    if (bad) {
      // Garbage opens no session: a known exporter gets it in its status, anyone else
      // only in the metric.
      count(*bad, 1);
      if (peer != nullptr)
        ++peer->pending_.malformed;
      continue;
    }
    if (peer == nullptr) {
      peer = open_peer(
          key, endpoint_from_sockaddr(s.addrs[static_cast<std::size_t>(i)], h.msg_hdr.msg_namelen),
          now);
      if (peer == nullptr) {
        count(udp_drop::refused, 1);
        continue;
      }
    } else if (peer != last) {
      touch(*peer);
    }
    if (!peer->templated_ && has_template_set(p, len))
      mark_templated(*peer);
    last = peer;
    last_key = key;
    peer->last_seen_ = now;
    // DESIGN 3: UDP cannot push back, so a datagram arriving while the session's or the
    // process's budget is spent (counting what this batch already took) is dropped.
    auto* global = peer->budgets_.global.get();
    auto* own = peer->budgets_.session.get();
    if ((own && own->available() - static_cast<std::int64_t>(peer->batch_bytes_) <= 0) ||
        (global && global->available() - static_cast<std::int64_t>(batch_total) <= 0)) {
      count(udp_drop::budget, 1);
      ++peer->pending_.budget_drops;
      continue;
    }
    if (!peer->batch_touched_) {
      peer->batch_touched_ = true;
      touched_.push_back(peer);
    }
    s.next[static_cast<std::size_t>(i)] = -1;
    if (peer->batch_last_ >= 0)
      s.next[static_cast<std::size_t>(peer->batch_last_)] = i;
    else
      peer->batch_first_ = i;
    peer->batch_last_ = i;
    peer->batch_bytes_ += len;
    batch_total += len;
  }
  deliver_batch();
  if (on_counts_)
    on_counts_(static_cast<std::uint64_t>(n), batch_drops_);
  for (std::size_t d = 0; d < num_udp_drops; ++d)
    dropped_[d] += batch_drops_[d];
  batch_drops_.fill(0);
  return static_cast<std::size_t>(n);
}

void udp_listener::deliver_batch() {
  auto& s = *slots_;
  for (auto* peer : touched_) {
    if (peer->batch_bytes_ > 0 && peer->on_frames_) {
      auto c = std::make_shared<messages::chunk>(peer->batch_bytes_, peer->budgets_);
      std::size_t off = 0;
      for (int i = peer->batch_first_; i >= 0; i = s.next[static_cast<std::size_t>(i)]) {
        auto len = s.hdrs[static_cast<std::size_t>(i)].msg_len;
        std::memcpy(c->data() + off, s.slot(static_cast<std::size_t>(i)), len);
        off += len;
      }
      c->set_size(off);
      peer->on_frames_(std::move(c), std::exchange(peer->pending_, {}));
    }
    peer->batch_bytes_ = 0;
    peer->batch_first_ = -1;
    peer->batch_last_ = -1;
    peer->batch_touched_ = false;
  }
  touched_.clear();
}

void udp_listener::schedule_sweep() {
  if (stopped_)
    return;
  // Idle sessions close within a quarter of the timeout; counts waiting for a session
  // (drops while its budget was spent) reach its status as often.
  auto every = std::clamp<std::chrono::nanoseconds>(
      std::min(cfg_.idle_timeout, cfg_.untemplated_idle_timeout) / 4, std::chrono::milliseconds{10},
      std::chrono::seconds{1});
  sweep_timer_.expires_after(every);
  sweep_timer_.async_wait(
      asio::bind_executor(strand_, [self = shared_from_this()](asio::error_code ec) {
        if (ec || self->stopped_)
          return;
        self->sweep();
        self->schedule_sweep();
      }));
}

void udp_listener::report_pending(udp_peer& p) {
  if ((p.pending_.budget_drops != 0 || p.pending_.malformed != 0) && p.on_frames_)
    p.on_frames_(nullptr, std::exchange(p.pending_, {}));
}

void udp_listener::sweep() {
  auto now = std::chrono::steady_clock::now();
  // Issue 16, defect 7: a session that never sent a template set cannot decode what it
  // receives; a spoofed source never sends a second datagram. Neither may hold a slot
  // for long.
  auto untemplated = std::min(cfg_.idle_timeout, cfg_.untemplated_idle_timeout);
  std::vector<udp_peer_ptr> idle;
  for (auto& [_, p] : peers_) {
    if (now - p->last_seen_ >= (p->templated_ ? cfg_.idle_timeout : untemplated))
      idle.push_back(p);
    else
      report_pending(*p);
  }
  for (auto& p : idle) {
    // What it still had to say goes first, then the end of the session.
    report_pending(*p);
    p->finish("idle_timeout");
  }
}

udp_peer* udp_listener::open_peer(const peer_key& key, const asio::ip::udp::endpoint& remote,
                                  std::chrono::steady_clock::time_point now) {
  auto fresh = std::make_shared<udp_peer>(weak_from_this(), strand_, remote);
  reclaim_handler make_room = [this, &key, now](udp_reclaim scope) {
    return reclaim(scope, key, now);
  };
  auto setup = on_accept_ ? on_accept_(fresh, make_room) : std::nullopt;
  if (!setup)
    return nullptr;
  fresh->on_frames_ = std::move(setup->on_frames);
  fresh->on_closed_ = std::move(setup->on_closed);
  fresh->budgets_ = std::move(setup->budgets);
  fresh->last_seen_ = now;
  auto* peer = fresh.get();
  order_.untemplated.push_back(peer);
  peer->order_pos_ = std::prev(order_.untemplated.end());
  peer->address_order_ = &by_address_[peer_key{key.addr, 0}];
  auto& own = peer->address_order_->untemplated;
  own.push_back(peer);
  peer->address_pos_ = std::prev(own.end());
  peers_.emplace(key, std::move(fresh));
  num_peers_ = peers_.size();
  return peer;
}

bool udp_listener::reclaim(udp_reclaim scope, const peer_key& key,
                           std::chrono::steady_clock::time_point now) {
  const udp_idle_order* order = &order_;
  if (scope == udp_reclaim::none)
    return false;
  if (scope == udp_reclaim::same_address) {
    auto it = by_address_.find(peer_key{key.addr, 0});
    if (it == by_address_.end())
      return false;
    order = &it->second;
  }
  // Sessions with datagrams in the batch being received are not taken (they are the
  // last heard, at the back of their order).
  udp_peer* victim = nullptr;
  if (!order->untemplated.empty() && !order->untemplated.front()->batch_touched_)
    victim = order->untemplated.front();
  else if (!order->templated.empty()) {
    auto* oldest = order->templated.front();
    if (!oldest->batch_touched_ && now - oldest->last_seen_ >= cfg_.untemplated_idle_timeout)
      victim = oldest;
  }
  if (victim == nullptr)
    return false;
  auto keep = victim->shared_from_this(); // finish() takes it out of peers_
  report_pending(*victim);
  victim->finish("reclaimed");
  return true;
}

void udp_listener::touch(udp_peer& p) {
  auto& all = p.templated_ ? order_.templated : order_.untemplated;
  all.splice(all.end(), all, p.order_pos_);
  auto& own = p.templated_ ? p.address_order_->templated : p.address_order_->untemplated;
  own.splice(own.end(), own, p.address_pos_);
}

void udp_listener::mark_templated(udp_peer& p) {
  p.templated_ = true;
  order_.templated.splice(order_.templated.end(), order_.untemplated, p.order_pos_);
  auto& addr = *p.address_order_;
  addr.templated.splice(addr.templated.end(), addr.untemplated, p.address_pos_);
}

void udp_listener::forget(const udp_peer* p) {
  auto key = key_of(p->remote_);
  auto it = peers_.find(key);
  if (it == peers_.end() || it->second.get() != p)
    return;
  (p->templated_ ? order_.templated : order_.untemplated).erase(p->order_pos_);
  auto& addr = *p->address_order_;
  (p->templated_ ? addr.templated : addr.untemplated).erase(p->address_pos_);
  if (addr.templated.empty() && addr.untemplated.empty())
    by_address_.erase(peer_key{key.addr, 0});
  peers_.erase(it);
  num_peers_ = peers_.size();
}

} // namespace fa::net
