#include "net/tcp_client.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace fa::net {

std::size_t unacknowledged_octets(int fd) {
  int n = 0;
  if (fd < 0 || ::ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0)
    return 0;
  return static_cast<std::size_t>(n);
}

close_progress orderly_close_progress(int fd, std::size_t& unacked) {
  unacked = unacknowledged_octets(fd);
  if (unacked == 0)
    return close_progress::acknowledged;
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state == TCP_CLOSE)
    return close_progress::reset; // a reset purges nothing from SIOCOUTQ's count
  return close_progress::waiting;
}

tcp_client::tcp_client(asio::io_context& ctx, std::string host, std::uint16_t port, handlers h,
                       std::chrono::milliseconds connect_timeout)
    : strand_(asio::make_strand(ctx.get_executor()))
    , resolver_(strand_)
    , socket_(strand_)
    , timer_(strand_)
    , host_(std::move(host))
    , port_(port)
    , h_(std::move(h))
    , connect_timeout_(connect_timeout) {}

void tcp_client::close_socket() {
  asio::error_code ec;
  timer_.cancel();
  resolver_.cancel();
  socket_.close(ec);
  up_ = false;
  writing_ = false;
  peer_closed_ = false;
  closing_ = false;
}

void tcp_client::fail(std::uint64_t gen, const std::string& reason) {
  end(gen, {reason, false, 0});
}

void tcp_client::end(std::uint64_t gen, disconnect_info info) {
  if (gen != gen_ || stopped_)
    return;
  close_socket();
  ++gen_; // later callbacks of this connection are stale
  if (h_.disconnected)
    h_.disconnected(gen, std::move(info));
}

// The collector's FIN: what its TCP acknowledged it has read (else it would have reset).
// Our FIN follows what we wrote; a collector that only half-closed (a graceful stop)
// reads on to it, so the connection ends once its TCP acknowledged all, or reset.
void tcp_client::peer_closed(std::uint64_t gen) {
  closing_ = true;
  asio::error_code ignore;
  socket_.shutdown(asio::socket_base::shutdown_send, ignore);
  await_acknowledgement(timer_, socket_.native_handle(),
                        std::chrono::steady_clock::now() + connect_timeout_,
                        [self = shared_from_this(), gen](std::size_t unacked) {
                          self->end(gen, {"peer closed", true, unacked});
                        });
}

void tcp_client::connect(std::uint64_t gen) {
  asio::post(strand_, [self = shared_from_this(), gen] {
    if (self->stopped_)
      return;
    self->close_socket();
    self->gen_ = gen;
    self->timer_.expires_after(self->connect_timeout_);
    self->timer_.async_wait([self, gen](asio::error_code ec) {
      if (!ec && gen == self->gen_ && !self->up_)
        self->fail(gen, "connect timeout");
    });
    self->resolver_.async_resolve(
        self->host_, std::to_string(self->port_),
        [self, gen](asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
          if (gen != self->gen_)
            return;
          if (ec) {
            self->fail(gen, "resolve: " + ec.message());
            return;
          }
          asio::async_connect(self->socket_, results,
                              [self, gen](asio::error_code ec, const asio::ip::tcp::endpoint&) {
                                if (gen != self->gen_)
                                  return;
                                if (ec) {
                                  self->fail(gen, "connect: " + ec.message());
                                  return;
                                }
                                self->timer_.cancel();
                                self->up_ = true;
                                asio::error_code ignore;
                                self->socket_.set_option(asio::ip::tcp::no_delay(true), ignore);
                                self->watch_peer(gen);
                                if (self->h_.connected)
                                  self->h_.connected(gen);
                              });
        });
  });
}

// Collectors send nothing; a read completing means the peer closed (or reset). On a
// clean half-close the write in flight is finished first, so nothing is lost.
void tcp_client::watch_peer(std::uint64_t gen) {
  socket_.async_read_some(asio::buffer(discard_),
                          [self = shared_from_this(), gen](asio::error_code ec, std::size_t) {
                            if (gen != self->gen_ || !self->up_)
                              return;
                            if (!ec) {
                              self->watch_peer(gen);
                              return;
                            }
                            if (ec == asio::error::eof && self->writing_) {
                              self->peer_closed_ = true;
                              return;
                            }
                            if (ec == asio::error::eof)
                              self->peer_closed(gen);
                            else
                              self->fail(gen, ec.message());
                          });
}

void tcp_client::write(std::uint64_t gen, std::shared_ptr<write_job> job) {
  asio::post(strand_, [self = shared_from_this(), gen, job = std::move(job)] {
    if (gen != self->gen_ || !self->up_ || self->closing_) {
      return; // the exporter learns of the loss through `disconnected`
    }
    self->writing_ = true;
    asio::async_write(
        self->socket_, job->buffers, [self, gen, job](asio::error_code ec, std::size_t n) {
          if (gen != self->gen_)
            return;
          self->writing_ = false;
          if (ec) {
            self->fail(gen, "write: " + ec.message());
            return;
          }
          if (self->h_.written)
            self->h_.written(gen, n, unacknowledged_octets(self->socket_.native_handle()));
          if (self->peer_closed_)
            self->peer_closed(gen);
        });
  });
}

void tcp_client::shutdown(std::uint64_t gen) {
  asio::post(strand_, [self = shared_from_this(), gen] {
    if (gen != self->gen_ || !self->up_)
      return;
    asio::error_code ignore;
    self->socket_.shutdown(asio::socket_base::shutdown_send, ignore);
  });
}

void tcp_client::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->close_socket();
  });
}

} // namespace fa::net
