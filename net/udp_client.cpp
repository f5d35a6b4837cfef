#include "net/udp_client.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace fa::net {

namespace {

/// SO_SNDBUF of the exporting socket.
constexpr int send_buffer_size = 4 << 20;

/// Datagrams per `sendmmsg` call: the kernel caps a call at UIO_MAXIOV (1024) anyway.
constexpr std::size_t max_batch = 256;

/// UDP GSO limits (Linux udp_sendmsg): at most UDP_MAX_SEGMENTS (64) segments per send,
/// and the whole send is one IP packet before segmentation: 65535 octets less the IPv4
/// and UDP headers (IPv6 allows a little more; the smaller limit serves both).
constexpr std::size_t gso_max_segments = 64;
constexpr std::size_t gso_max_bytes = 65535 - 20 - 8;
/// A message's iovecs are capped by the kernel at UIO_MAXIOV.
constexpr std::size_t max_iov = 1024;

/// The kernel refused a GSO send (no checksum offload on the route: EIO; segment larger
/// than the path MTU or checksums off: EINVAL): plain datagrams still go.
bool gso_refused(int err) {
  return err == EIO || err == EINVAL || err == EMSGSIZE;
}

std::string describe(int err) {
  if (err == ECONNREFUSED)
    return "collector refused (ICMP port unreachable)";
  return std::strerror(err);
}

} // namespace

struct udp_client::pending_send {
  /// One IPFIX message: `count` iovecs from `first`, `size` octets.
  struct datagram {
    std::size_t first = 0;
    std::size_t count = 0;
    std::size_t size = 0;
  };
  /// Room for one UDP_SEGMENT control message (a u16), aligned for cmsghdr.
  union gso_ctrl {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(std::uint16_t))];
  };

  /// Builds `msgs` for the datagrams from `from` on: with `gso`, each run of
  /// equal-sized datagrams (the last of a run may be shorter) is one send that the
  /// kernel cuts at that size, so every datagram on the wire is still exactly one
  /// message, as without GSO (RFC 7011 10.3.3).
  void build(std::size_t from, bool gso);

  std::shared_ptr<write_job> job; ///< keeps the buffers alive
  std::vector<iovec> iov;         ///< one per buffer
  std::vector<datagram> datagrams;
  std::vector<mmsghdr> msgs;      ///< one per send: a datagram, or a GSO run of them
  std::vector<std::size_t> first; ///< per send: its first datagram
  std::vector<gso_ctrl> ctrl;     ///< per send
  std::size_t next = 0;           ///< the first send not done yet
  std::size_t total = 0;          ///< octets of all datagrams
};

void udp_client::pending_send::build(std::size_t from, bool gso) {
  msgs.clear();
  first.clear();
  ctrl.clear();
  next = 0;
  // Reserved up front: each mmsghdr points into `ctrl`, which must not move.
  ctrl.resize(datagrams.size() - from);
  msgs.reserve(datagrams.size() - from);
  for (std::size_t d = from; d < datagrams.size();) {
    const auto& head = datagrams[d];
    std::size_t end = d + 1, bytes = head.size, iovs = head.count;
    if (gso) {
      while (end < datagrams.size() && end - d < gso_max_segments &&
             datagrams[end - 1].size == head.size && datagrams[end].size <= head.size &&
             bytes + datagrams[end].size <= gso_max_bytes &&
             iovs + datagrams[end].count <= max_iov) {
        bytes += datagrams[end].size;
        iovs += datagrams[end].count;
        ++end;
      }
    }
    mmsghdr m{};
    m.msg_hdr.msg_iov = iov.data() + head.first;
    m.msg_hdr.msg_iovlen = iovs;
    if (end - d > 1) {
      auto& c = ctrl[msgs.size()];
      std::memset(&c, 0, sizeof c);
      m.msg_hdr.msg_control = c.bytes;
      m.msg_hdr.msg_controllen = sizeof c.bytes;
      auto* cm = CMSG_FIRSTHDR(&m.msg_hdr);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      auto seg = static_cast<std::uint16_t>(head.size);
      std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    }
    msgs.push_back(m);
    first.push_back(d);
    d = end;
  }
}

udp_client::udp_client(asio::io_context& ctx, std::string host, std::uint16_t port, handlers h,
                       udp_client_options opts)
    : strand_(asio::make_strand(ctx.get_executor()))
    , resolver_(strand_)
    , socket_(strand_)
    , host_(std::move(host))
    , port_(port)
    , h_(std::move(h))
    , opts_(std::move(opts))
    , gso_(opts_.gso) {}

void udp_client::close_socket() {
  asio::error_code ec;
  resolver_.cancel();
  socket_.close(ec);
  up_ = false;
}

void udp_client::fail(std::uint64_t gen, const std::string& reason) {
  if (gen != gen_ || stopped_)
    return;
  close_socket();
  ++gen_; // later callbacks of this socket are stale
  if (h_.disconnected)
    h_.disconnected(gen, {reason, false, 0});
}

void udp_client::connect(std::uint64_t gen) {
  asio::post(strand_, [self = shared_from_this(), gen] {
    if (self->stopped_)
      return;
    self->close_socket();
    self->gen_ = gen;
    self->resolver_.async_resolve(
        self->host_, std::to_string(self->port_),
        [self, gen](asio::error_code ec, asio::ip::udp::resolver::results_type results) {
          if (gen != self->gen_ || self->stopped_)
            return;
          if (ec || results.empty()) {
            self->fail(gen, "resolve: " + (ec ? ec.message() : std::string{"no address"}));
            return;
          }
          auto ep = results.begin()->endpoint();
          self->socket_.open(ep.protocol(), ec);
          if (!ec)
            self->socket_.non_blocking(true, ec);
          if (!ec) {
            // On loopback and fast links a datagram holds send-buffer space until the
            // receiver reads it: room for bursts keeps the exporter from stalling (as
            // root past net.core.wmem_max; otherwise the kernel caps it, which is fine).
            int size = send_buffer_size;
            if (::setsockopt(self->socket_.native_handle(), SOL_SOCKET, SO_SNDBUFFORCE, &size,
                             sizeof size) != 0) {
              asio::error_code ignore;
              self->socket_.set_option(asio::socket_base::send_buffer_size(size), ignore);
            }
          }
          // connect() on UDP only fixes the peer: sends need no address, and the kernel
          // reports the collector's ICMP port unreachable to this socket (ECONNREFUSED).
          if (!ec)
            self->socket_.connect(ep, ec);
          if (ec) {
            self->fail(gen, "connect: " + ec.message());
            return;
          }
          self->up_ = true;
          if (self->h_.connected)
            self->h_.connected(gen);
        });
  });
}

void udp_client::write(std::uint64_t gen, std::shared_ptr<write_job> job) {
  asio::post(strand_, [self = shared_from_this(), gen, job = std::move(job)] {
    if (gen != self->gen_ || !self->up_)
      return; // the exporter learns of the loss through `disconnected`
    self->pump(gen, self->prepare(std::move(job)));
  });
}

std::shared_ptr<udp_client::pending_send> udp_client::prepare(std::shared_ptr<write_job> job) {
  // One iovec per buffer; RFC 7011 10.3.3: one message per datagram, as the exporter cut
  // them.
  auto p = std::make_shared<pending_send>();
  p->total = job->size();
  p->iov.reserve(job->buffers.size());
  for (auto& b : job->buffers)
    p->iov.push_back({const_cast<void*>(b.data()), b.size()});
  const std::size_t datagrams = job->datagrams.empty() ? 1 : job->datagrams.size();
  p->datagrams.resize(datagrams);
  std::size_t at = 0;
  for (std::size_t i = 0; i < datagrams; ++i) {
    std::size_t n = job->datagrams.empty() ? p->iov.size() : job->datagrams[i];
    n = std::min(n, p->iov.size() - at);
    auto& d = p->datagrams[i];
    d.first = at;
    d.count = n;
    for (std::size_t k = at; k < at + n; ++k)
      d.size += p->iov[k].iov_len;
    at += n;
  }
  p->build(0, gso_);
  p->job = std::move(job);
  return p;
}

// Sends from datagram `p->next` on; when the send buffer is full (EAGAIN) it waits until
// the socket is writable and continues from there.
void udp_client::pump(std::uint64_t gen, std::shared_ptr<pending_send> p) {
  const int fd = socket_.native_handle();
  while (p->next < p->msgs.size()) {
    auto batch = std::min(max_batch, p->msgs.size() - p->next);
    int sent = ::sendmmsg(fd, p->msgs.data() + p->next, static_cast<unsigned>(batch), 0);
    if (sent > 0) {
      p->next += static_cast<std::size_t>(sent);
      continue;
    }
    int err = sent == 0 ? EAGAIN : errno;
    if (err == EINTR)
      continue;
    if (gso_refused(err) && p->msgs[p->next].msg_hdr.msg_controllen != 0) {
      // The kernel cannot segment on this route: this client sends plain datagrams from
      // now on, starting again with the refused run (nothing of it left).
      gso_ = false;
      if (opts_.gso_refused)
        opts_.gso_refused(err);
      p->build(p->first[p->next], false);
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      socket_.async_wait(asio::socket_base::wait_write,
                         [self = shared_from_this(), gen, p](asio::error_code ec) {
                           if (gen != self->gen_ || !self->up_)
                             return;
                           if (ec) {
                             self->fail(gen, "send: " + ec.message());
                             return;
                           }
                           self->pump(gen, p);
                         });
      return;
    }
    // ECONNREFUSED: the collector's port is closed. No `written`: the exporter sends the
    // whole job again on its next connection (at least once; see the header).
    fail(gen, "send: " + describe(err));
    return;
  }
  if (h_.written)
    h_.written(gen, p->total, 0); // nothing to acknowledge over UDP
}

void udp_client::shutdown(std::uint64_t) {
  // UDP has no half-close: datagrams already handed to the kernel go out by themselves.
}

void udp_client::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->close_socket();
  });
}

} // namespace fa::net
