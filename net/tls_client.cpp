#include "net/tls_client.hpp"

namespace fa::net {

tls_client::tls_client(asio::io_context& ctx, ssl_context_ptr tls, std::string host,
                       std::uint16_t port, std::string server_name, handlers h,
                       failure_handler on_failure, std::chrono::milliseconds connect_timeout)
    : strand_(asio::make_strand(ctx.get_executor()))
    , resolver_(strand_)
    , timer_(strand_)
    , tls_(std::move(tls))
    , host_(std::move(host))
    , port_(port)
    , server_name_(std::move(server_name))
    , h_(std::move(h))
    , on_failure_(std::move(on_failure))
    , connect_timeout_(connect_timeout) {}

void tls_client::close_stream() {
  asio::error_code ec;
  timer_.cancel();
  resolver_.cancel();
  if (stream_) {
    stream_->lowest_layer().close(ec); // pending operations end with operation_aborted
    stream_.reset();
  }
  up_ = false;
  writing_ = false;
  peer_closed_ = false;
  handshaking_ = false;
  shutdown_pending_ = false;
  closing_ = false;
}

void tls_client::fail(std::uint64_t gen, const std::string& reason) {
  end(gen, {reason, false, 0});
}

void tls_client::end(std::uint64_t gen, disconnect_info info) {
  if (gen != gen_ || stopped_)
    return;
  close_stream();
  ++gen_; // later callbacks of this connection are stale
  if (h_.disconnected)
    h_.disconnected(gen, std::move(info));
}

std::size_t tls_client::unacked() const {
  return stream_ ? unacknowledged_octets(stream_->lowest_layer().native_handle()) : 0;
}

// The collector's close_notify (RFC 8446 6.1), a clean close as a FIN over TCP: the
// connection ends once its TCP acknowledged all we wrote (our FIN follows it), or reset.
void tls_client::peer_closed(std::uint64_t gen) {
  closing_ = true;
  asio::error_code ignore;
  stream_->lowest_layer().shutdown(asio::socket_base::shutdown_send, ignore);
  await_acknowledgement(timer_, stream_->lowest_layer().native_handle(),
                        std::chrono::steady_clock::now() + connect_timeout_,
                        [self = shared_from_this(), gen](std::size_t unacked) {
                          self->end(gen, {"peer closed", true, unacked});
                        });
}

void tls_client::connect(std::uint64_t gen) {
  asio::post(strand_, [self = shared_from_this(), gen] {
    if (self->stopped_)
      return;
    self->close_stream();
    self->gen_ = gen;
    auto s = std::make_shared<stream_type>(self->strand_, *self->tls_);
    self->stream_ = s;
    if (auto err = set_server_name(s->native_handle(), self->server_name_)) {
      self->fail(gen, *err);
      return;
    }
    self->timer_.expires_after(self->connect_timeout_);
    self->timer_.async_wait([self, gen](asio::error_code ec) {
      if (ec || gen != self->gen_ || self->up_)
        return;
      if (self->handshaking_ && self->on_failure_)
        self->on_failure_("timeout", "handshake not finished in time");
      self->fail(gen, self->handshaking_ ? "tls handshake timeout" : "connect timeout");
    });
    self->resolver_.async_resolve(
        self->host_, std::to_string(self->port_),
        [self, gen, s](asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
          if (gen != self->gen_)
            return;
          if (ec) {
            self->fail(gen, "resolve: " + ec.message());
            return;
          }
          asio::async_connect(s->lowest_layer(), results,
                              [self, gen, s](asio::error_code ec, const asio::ip::tcp::endpoint&) {
                                if (gen != self->gen_)
                                  return;
                                if (ec) {
                                  self->fail(gen, "connect: " + ec.message());
                                  return;
                                }
                                asio::error_code ignore;
                                s->lowest_layer().set_option(asio::ip::tcp::no_delay(true), ignore);
                                self->handshake(gen);
                              });
        });
  });
}

void tls_client::handshake(std::uint64_t gen) {
  handshaking_ = true;
  auto s = stream_;
  s->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this(), gen,
                                                      s](const asio::error_code& ec) {
    if (gen != self->gen_)
      return;
    self->handshaking_ = false;
    if (ec) {
      // RFC 7011 11.3: a collector that cannot prove its identity gets no data; the
      // exporter retries with backoff (10.4.4) in case the certificate is being fixed.
      auto detail = handshake_failure_detail(ec, s->native_handle());
      if (self->on_failure_)
        self->on_failure_(handshake_failure_reason(ec, s->native_handle()), detail);
      self->fail(gen, "tls handshake: " + detail);
      return;
    }
    self->timer_.cancel();
    self->up_ = true;
    self->watch_peer(gen);
    if (self->h_.connected)
      self->h_.connected(gen);
  });
}

// Collectors send nothing but TLS's own messages (session tickets), which a read
// consumes. A read failing means the peer closed: on its close_notify the write in
// flight is finished first, as over TCP. With TLS 1.3 the collector checks our
// certificate after our side considers the handshake done, so its refusal arrives here.
void tls_client::watch_peer(std::uint64_t gen) {
  auto s = stream_;
  s->async_read_some(asio::buffer(discard_), [self = shared_from_this(), gen,
                                              s](asio::error_code ec, std::size_t) {
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
    if (ec == asio::error::eof) {
      self->peer_closed(gen);
      return;
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      auto reason = handshake_failure_reason(ec, s->native_handle());
      if (reason == "peer_rejected_certificate" && self->on_failure_)
        self->on_failure_(reason, handshake_failure_detail(ec, s->native_handle()));
    }
    self->fail(gen, ec.message());
  });
}

void tls_client::write(std::uint64_t gen, std::shared_ptr<write_job> job) {
  asio::post(strand_, [self = shared_from_this(), gen, job = std::move(job)] {
    if (gen != self->gen_ || !self->up_ || self->closing_)
      return; // the exporter learns of the loss through `disconnected`
    self->writing_ = true;
    self->staging_.resize(job->size());
    asio::buffer_copy(asio::buffer(self->staging_), job->buffers);
    auto s = self->stream_;
    asio::async_write(*s, asio::buffer(self->staging_),
                      [self, gen, s](asio::error_code ec, std::size_t n) {
                        if (gen != self->gen_)
                          return;
                        self->writing_ = false;
                        if (ec) {
                          self->fail(gen, "write: " + ec.message());
                          return;
                        }
                        if (self->h_.written)
                          self->h_.written(gen, n, self->unacked());
                        if (self->peer_closed_) {
                          self->peer_closed(gen);
                          return;
                        }
                        if (self->shutdown_pending_) {
                          self->shutdown_pending_ = false;
                          self->shutdown(gen);
                        }
                      });
  });
}

void tls_client::shutdown(std::uint64_t gen) {
  asio::post(strand_, [self = shared_from_this(), gen] {
    if (gen != self->gen_ || !self->up_ || self->closing_)
      return;
    if (self->writing_) {
      self->shutdown_pending_ = true;
      return;
    }
    // The peer's close_notify (or its closing the connection) ends watch_peer, which
    // reports the disconnect.
    auto s = self->stream_;
    s->async_shutdown([s](const asio::error_code&) {});
  });
}

void tls_client::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->close_stream();
  });
}

} // namespace fa::net
