#include "net/tls_connection.hpp"

#include "net/tcp_framer.hpp"

#include <openssl/ssl.h>

#include <cstring>

namespace fa::net {

namespace {

/// The most plaintext one TLS record carries (RFC 8446 5.1); OpenSSL may hold up to one
/// such record decrypted or half-received between reads.
constexpr std::size_t max_record_plaintext = 16 * 1024;

} // namespace

tls_connection::tls_connection(asio::ip::tcp::socket socket, ssl_context_ptr ctx,
                               std::size_t max_read, std::size_t max_message_size)
    : ctx_(std::move(ctx))
    , stream_(std::move(socket), *ctx_)
    , strand_(stream_.get_executor())
    , timer_(strand_)
    , max_read_(max_read)
    , max_message_size_(max_message_size) {
  asio::error_code ec;
  remote_ = stream_.lowest_layer().remote_endpoint(ec);
  stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ec);
}

std::string tls_connection::peer_names() const {
  std::string out;
  for (auto& n : certificate_names(SSL_get0_peer_certificate(
           const_cast<asio::ssl::stream<asio::ip::tcp::socket>&>(stream_).native_handle()))) {
    if (!out.empty())
      out += ",";
    out += n;
  }
  return out;
}

void tls_connection::handshake(std::chrono::milliseconds timeout, handshake_handler done) {
  on_handshake_ = std::move(done);
  asio::dispatch(strand_, [self = shared_from_this(), timeout] {
    if (self->closed_) {
      self->handshake_done(asio::error::operation_aborted);
      return;
    }
    self->handshaking_ = true;
    self->timer_.expires_after(timeout);
    self->timer_.async_wait([self](asio::error_code ec) {
      if (ec || !self->handshaking_)
        return;
      // A peer that never finishes must not hold a handshake slot for ever (the slots
      // are bounded, tls_listener): closing the socket fails the handshake at once.
      self->timed_out_ = true;
      asio::error_code ignore;
      self->stream_.lowest_layer().close(ignore);
    });
    self->stream_.async_handshake(asio::ssl::stream_base::server,
                                  [self](const asio::error_code& ec) { self->handshake_done(ec); });
  });
}

void tls_connection::handshake_done(const asio::error_code& ec) {
  handshaking_ = false;
  timer_.cancel();
  auto done = std::move(on_handshake_);
  on_handshake_ = nullptr;
  asio::error_code ignore;
  if (!ec && !closed_) {
    established_ = true;
    // Reads (and the close_notify on close) are non-blocking: see read_available.
    stream_.lowest_layer().non_blocking(true, ignore);
    if (done)
      done({}, {});
    return;
  }
  auto* ssl = stream_.native_handle();
  std::string_view reason = timed_out_ ? std::string_view{"timeout"}
                            : closed_  ? std::string_view{"aborted"}
                                       : handshake_failure_reason(ec, ssl);
  std::string detail = timed_out_ ? std::string{"handshake not finished in time"}
                       : closed_  ? std::string{"closed during the handshake"}
                                  : handshake_failure_detail(ec, ssl);
  closed_ = true;
  stream_.lowest_layer().close(ignore);
  if (done)
    done(reason, detail);
}

void tls_connection::start(messages::session_budgets budgets, frames_handler on_frames,
                           closed_handler on_closed) {
  asio::dispatch(strand_, [self = shared_from_this(), b = std::move(budgets),
                           f = std::move(on_frames), c = std::move(on_closed)]() mutable {
    self->budgets_ = std::move(b);
    self->on_frames_ = std::move(f);
    self->on_closed_ = std::move(c);
    if (self->closed_) {
      // Closed between the handshake and now: report it, once.
      auto closed = std::move(self->on_closed_);
      self->on_closed_ = nullptr;
      self->on_frames_ = nullptr;
      if (closed)
        closed("closed");
      return;
    }
    // Data may have arrived with the handshake's last flight and already sit in
    // OpenSSL: read before waiting on the socket.
    self->resume_reading();
  });
}

void tls_connection::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(reason)]() mutable {
    if (self->handshaking_) {
      self->closed_ = true; // handshake_done reports "aborted"
      asio::error_code ignore;
      self->stream_.lowest_layer().close(ignore);
      return;
    }
    self->finish(std::move(r));
  });
}

void tls_connection::wait_readable() {
  if (closed_)
    return;
  stream_.lowest_layer().async_wait(
      asio::socket_base::wait_read, [self = shared_from_this()](asio::error_code ec) {
        if (ec)
          self->finish(ec == asio::error::operation_aborted ? "closed" : ec.message());
        else
          self->resume_reading();
      });
}

// DESIGN 3, as for TCP: read only while this session's and the process's budgets have
// room; while paused, TCP flow control under TLS slows the exporter.
void tls_connection::resume_reading() {
  if (closed_)
    return;
  auto make_resume = [this] {
    return [weak = weak_from_this()] {
      if (auto self = weak.lock())
        asio::post(self->strand_, [self] { self->resume_reading(); });
    };
  };
  if (budgets_.wait_if_spent(make_resume))
    return;
  read_available();
}

// The socket's `available()` counts ciphertext and misses what OpenSSL already holds,
// so the reader does not wait on the socket before every read. It reads (non-blocking)
// until the socket has nothing more: at that point OpenSSL has consumed every received
// octet (a read that wants input has drained its buffers), so waiting on the socket
// again cannot strand data. An idle session therefore pins no buffer, as over TCP.
// The chunk is sized from the ciphertext waiting plus one record OpenSSL may hold. A
// read may have to write (a TLS 1.3 KeyUpdate answer, a few octets); our send buffer is
// empty, as we send nothing else, so that write does not meet a full socket.
void tls_connection::read_available() {
  if (closed_)
    return;
  asio::error_code ec;
  std::size_t avail = stream_.lowest_layer().available(ec);
  if (ec) {
    finish(ec.message());
    return;
  }
  std::size_t want = std::min(avail + max_record_plaintext, max_read_);
  auto buf = std::make_shared<messages::chunk>(tail_.size() + want, budgets_);
  if (!tail_.empty()) // memcpy from an empty vector's null pointer is undefined
    std::memcpy(buf->data(), tail_.data(), tail_.size());
  std::size_t total = tail_.size();
  bool drained = false;
  while (total < buf->capacity()) {
    std::size_t n =
        stream_.read_some(asio::buffer(buf->data() + total, buf->capacity() - total), ec);
    total += n;
    if (ec == asio::error::would_block) {
      ec.clear();
      drained = true;
      break;
    }
    if (ec)
      break;
  }
  // Whole messages received before an error or the peer's close still count.
  auto scan = scan_frames({buf->data(), total}, max_message_size_);
  if (!scan.error.empty()) {
    finish(std::string{scan.error});
    return;
  }
  tail_.assign(buf->data() + scan.complete, buf->data() + total);
  if (scan.complete > 0) {
    buf->set_size(scan.complete);
    on_frames_(std::move(buf));
  }
  buf.reset(); // releases the budget at once when nothing referenced it
  if (ec) {
    // eof: the exporter's close_notify (RFC 8446 6.1); stream_truncated: the TCP
    // connection ended without one, so later messages may have been cut off.
    bool clean = ec == asio::error::eof;
    std::string why = clean                                      ? "eof"
                      : ec == asio::ssl::error::stream_truncated ? "eof_without_close_notify"
                                                                 : ec.message();
    finish(clean && !tail_.empty() ? "eof_mid_message" : why);
    return;
  }
  if (drained)
    wait_readable();
  else // the chunk filled up: more may be buffered; let other handlers run first
    asio::post(strand_, [self = shared_from_this()] { self->resume_reading(); });
}

void tls_connection::finish(std::string reason) {
  if (closed_)
    return;
  closed_ = true;
  asio::error_code ec;
  if (established_) {
    // Our close_notify, without waiting for the peer's (the socket is non-blocking):
    // the exporter learns the close was deliberate.
    stream_.shutdown(ec);
  }
  stream_.lowest_layer().shutdown(asio::socket_base::shutdown_both, ec);
  stream_.lowest_layer().close(ec);
  tail_.clear();
  if (on_closed_) {
    auto f = std::move(on_closed_);
    on_closed_ = nullptr;
    on_frames_ = nullptr;
    f(reason);
  }
}

tls_listener::tls_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                           tls_server_context_ptr tls, tls_listener_options options,
                           tls_listener_handlers handlers)
    : io_(ctx)
    , strand_(asio::make_strand(ctx))
    , acceptor_(strand_)
    , retry_(strand_)
    , tls_(std::move(tls))
    , options_(options)
    , handlers_(std::move(handlers)) {
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (ep.address().is_v6()) {
    // "[::]" listens on IPv6 and IPv4 alike.
    asio::error_code ec;
    acceptor_.set_option(asio::ip::v6_only(false), ec);
  }
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor_.local_endpoint();
  port_ = local_.port();
}

void tls_listener::start() {
  asio::post(strand_, [self = shared_from_this()] {
    self->accepting_ = true;
    self->accept_next();
  });
}

void tls_listener::stop() {
  stopped_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    asio::error_code ec;
    self->acceptor_.close(ec);
    self->retry_.cancel();
    for (auto& [_, weak] : self->handshaking_)
      if (auto c = weak.lock())
        c->close("shutdown");
  });
}

void tls_listener::accept_next() {
  // Each connection gets its own strand: its handshake, reads and closes never run
  // concurrently, while different connections use every io thread.
  acceptor_.async_accept(
      asio::make_strand(io_), [self = shared_from_this()](asio::error_code ec, auto socket) {
        if (ec == asio::error::operation_aborted || self->stopped_ || !self->acceptor_.is_open())
          return;
        if (ec) {
          // Out of descriptors and the like: retry soon instead of spinning.
          self->retry_.expires_after(std::chrono::milliseconds{100});
          self->retry_.async_wait([self](asio::error_code e) {
            if (!e && !self->stopped_)
              self->accept_next();
          });
          return;
        }
        self->accepted(asio::ip::tcp::socket{std::move(socket)});
      });
}

void tls_listener::accepted(asio::ip::tcp::socket socket) {
  auto conn = std::make_shared<tls_connection>(std::move(socket), tls_->current(),
                                               options_.max_read, options_.max_message_size);
  handshaking_[conn.get()] = conn;
  if (handlers_.in_progress)
    handlers_.in_progress(+1);
  std::weak_ptr<tls_listener> weak = shared_from_this();
  conn->handshake(options_.handshake_timeout,
                  [weak, c = conn.get()](std::string_view failure, const std::string& detail) {
                    auto self = weak.lock();
                    if (!self)
                      return;
                    asio::post(self->strand_, [self, c] { self->handshake_finished(c); });
                    if (failure.empty()) {
                      auto conn = c->shared_from_this();
                      if (self->stopped_)
                        conn->close("shutdown");
                      else if (self->handlers_.established)
                        self->handlers_.established(std::move(conn));
                    } else if (failure != "aborted" && self->handlers_.failed) {
                      self->handlers_.failed(failure, *c, detail);
                    }
                  });
  if (handshaking_.size() < options_.max_handshakes)
    accept_next();
  else
    accepting_ = false; // resumed by handshake_finished
}

void tls_listener::handshake_finished(const tls_connection* c) {
  handshaking_.erase(c);
  if (handlers_.in_progress)
    handlers_.in_progress(-1);
  if (!accepting_ && !stopped_ && handshaking_.size() < options_.max_handshakes) {
    accepting_ = true;
    accept_next();
  }
}

} // namespace fa::net
