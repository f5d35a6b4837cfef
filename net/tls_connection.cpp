#include "net/tls_connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace fa::net {

namespace {

/// The most plaintext one TLS record carries (RFC 8446 5.1); OpenSSL may hold up to one
/// such record decrypted or half-received between reads.
constexpr std::size_t max_record_plaintext = 16 * 1024;

/// OpenSSL's read-ahead buffer: ciphertext read from the socket per system call.
constexpr std::size_t read_ahead_buffer = 64 * 1024;

/// What asio::ssl::stream would report for a failed SSL call, so that callers (failure
/// reasons, close reasons) see the same error codes: SSL_ERROR_SSL carries OpenSSL's
/// error (the ssl category), a close_notify is eof, a TCP end without one is
/// stream_truncated.
asio::error_code ssl_error(SSL* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
  case SSL_ERROR_ZERO_RETURN:
    return asio::error::eof;
  case SSL_ERROR_SYSCALL:
    if (auto e = ERR_get_error(); e != 0)
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    if (errno != 0 && ret < 0)
      return {errno, asio::error::get_system_category()};
    return asio::ssl::error::stream_truncated;
  case SSL_ERROR_SSL:
    if (auto e = ERR_get_error(); e != 0) {
      // OpenSSL 3 reports a TCP end without close_notify as an error of its own.
      if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    }
    return asio::ssl::error::unspecified_system_error;
  default:
    return asio::ssl::error::unspecified_system_error;
  }
}

} // namespace

tls_connection::tls_connection(asio::ip::tcp::socket socket, ssl_context_ptr ctx,
                               std::size_t max_read, std::size_t max_message_size,
                               session_timeouts timeouts)
    : ctx_(std::move(ctx))
    , socket_(std::move(socket))
    , ssl_(SSL_new(ctx_->native_handle()))
    , strand_(socket_.get_executor())
    , timer_(strand_)
    , max_read_(max_read)
    , frames_(max_message_size)
    , deadline_(strand_, timeouts) {
  asio::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // Every call is non-blocking: the handshake and the reads wait on the reactor.
  socket_.non_blocking(true, ec);
  if (ssl_) {
    SSL_set_fd(ssl_.get(), socket_.native_handle());
    SSL_set_accept_state(ssl_.get());
    // Large reads (see the header); buffers are kept while the session lives, not
    // released and allocated again around every read.
    SSL_set_read_ahead(ssl_.get(), 1);
    SSL_set_default_read_buffer_len(ssl_.get(), read_ahead_buffer);
    SSL_clear_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  }
}

std::string tls_connection::peer_names() const {
  std::string out;
  for (auto& n : certificate_names(ssl_ ? SSL_get0_peer_certificate(ssl_.get()) : nullptr)) {
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
      self->socket_.close(ignore);
    });
    self->handshake_step();
  });
}

// One step of the server handshake: on WANT_READ/WANT_WRITE, wait for the socket and
// step again (a timeout or close() closes the socket, which ends the wait).
void tls_connection::handshake_step() {
  if (!ssl_) {
    handshake_done(asio::error::no_memory);
    return;
  }
  ERR_clear_error();
  errno = 0;
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    handshake_done({});
    return;
  }
  int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    socket_.async_wait(e == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                                : asio::socket_base::wait_write,
                       [self = shared_from_this()](asio::error_code ec) {
                         if (ec || self->closed_ || self->timed_out_)
                           self->handshake_done(ec ? ec : asio::error::operation_aborted);
                         else
                           self->handshake_step();
                       });
    return;
  }
  handshake_done(ssl_error(ssl_.get(), r));
}

void tls_connection::handshake_done(const asio::error_code& ec) {
  handshaking_ = false;
  timer_.cancel();
  auto done = std::move(on_handshake_);
  on_handshake_ = nullptr;
  asio::error_code ignore;
  if (!ec && !closed_) {
    established_ = true;
    if (done)
      done({}, {});
    return;
  }
  auto* ssl = ssl_.get();
  std::string_view reason = timed_out_ ? std::string_view{"timeout"}
                            : closed_  ? std::string_view{"aborted"}
                                       : handshake_failure_reason(ec, ssl);
  std::string detail = timed_out_ ? std::string{"handshake not finished in time"}
                       : closed_  ? std::string{"closed during the handshake"}
                                  : handshake_failure_detail(ec, ssl);
  closed_ = true;
  socket_.close(ignore);
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
    // The first-message deadline runs from the end of the handshake.
    self->deadline_.start(self,
                          [p = self.get()](std::string_view why) { p->finish(std::string{why}); });
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
      self->socket_.close(ignore);
      return;
    }
    self->finish(std::move(r));
  });
}

void tls_connection::wait_readable() {
  if (closed_)
    return;
  socket_.async_wait(
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
  // As over TCP, a message already begun is read on into the buffer charged for it.
  bool may_allocate = !budgets_.spent();
  if (!may_allocate && !frames_.has_room()) {
    if (budgets_.wait_if_spent(make_resume)) {
      deadline_.paused(true);
      return;
    }
    may_allocate = true;
  }
  deadline_.paused(false);
  read_available(may_allocate);
}

// The socket's `available()` counts ciphertext and misses what OpenSSL already holds,
// so the reader does not wait on the socket before every read. It reads (non-blocking)
// until OpenSSL wants more input and the socket has none: at that point OpenSSL has
// consumed every received octet (its read-ahead buffer is empty), so waiting on the
// socket again cannot strand data. An idle session therefore pins no chunk, as over
// TCP. The chunk is sized from the ciphertext waiting plus what OpenSSL may hold (its
// read-ahead buffer). A read may have to write (a TLS 1.3 KeyUpdate answer, a few
// octets); our send buffer is empty, as we send nothing else, so that write does not
// meet a full socket (should it, the reader waits until the socket is writable).
void tls_connection::read_available(bool may_allocate) {
  if (closed_)
    return;
  asio::error_code ec;
  std::size_t avail = socket_.available(ec);
  if (ec) {
    finish(ec.message());
    return;
  }
  // After a drained read OpenSSL holds at most part of one record; after a read that
  // filled its chunk, up to its whole read-ahead buffer. The chunk's capacity is charged
  // to the budgets, so it is sized for what can come, not more.
  std::size_t held = ssl_may_hold_buffer_ ? read_ahead_buffer : 0;
  std::size_t want = std::min(avail + held + max_record_plaintext, max_read_);
  auto room = frames_.prepare(want, budgets_, may_allocate);
  std::size_t total = 0;
  bool drained = false, wants_write = false;
  while (total < room.size()) {
    ERR_clear_error();
    errno = 0;
    auto space = static_cast<int>(std::min<std::size_t>(room.size() - total, INT_MAX));
    int n = SSL_read(ssl_.get(), room.data() + total, space);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    int e = SSL_get_error(ssl_.get(), n);
    if (e == SSL_ERROR_WANT_READ) {
      drained = true;
      break;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
      wants_write = true;
      break;
    }
    ec = ssl_error(ssl_.get(), n);
    break;
  }
  // Whole messages received before an error or the peer's close still count.
  bool was_held = frames_.held() > 0;
  auto got = frames_.commit(total, budgets_, may_allocate);
  if (!got.error.empty()) {
    finish(std::string{got.error});
    return;
  }
  bool message_held = frames_.held() > 0;
  deadline_.update(message_held, message_held && (!was_held || got.messages),
                   got.messages != nullptr, shared_from_this(),
                   [this](std::string_view why) { finish(std::string{why}); });
  if (got.messages)
    on_frames_(std::move(got.messages)); // the budget is released when the session is done
  if (ec) {
    // eof: the exporter's close_notify (RFC 8446 6.1); stream_truncated: the TCP
    // connection ended without one, so later messages may have been cut off.
    bool clean = ec == asio::error::eof;
    std::string why = clean                                      ? "eof"
                      : ec == asio::ssl::error::stream_truncated ? "eof_without_close_notify"
                                                                 : ec.message();
    finish(clean && message_held ? "eof_mid_message" : why);
    return;
  }
  ssl_may_hold_buffer_ = !drained;
  if (wants_write)
    socket_.async_wait(
        asio::socket_base::wait_write, [self = shared_from_this()](asio::error_code ec) {
          if (ec)
            self->finish(ec == asio::error::operation_aborted ? "closed" : ec.message());
          else
            self->resume_reading();
        });
  else if (drained)
    wait_readable();
  else // the chunk filled up: more may be buffered; let other handlers run first
    asio::post(strand_, [self = shared_from_this()] { self->resume_reading(); });
}

void tls_connection::finish(std::string reason) {
  if (closed_)
    return;
  closed_ = true;
  asio::error_code ec;
  if (established_ && socket_.is_open()) {
    // Our close_notify, without waiting for the peer's (the socket is non-blocking):
    // the exporter learns the close was deliberate.
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  frames_.clear();
  deadline_.cancel();
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
          // Out of descriptors and the like: retry after a pause instead of spinning.
          auto failure = self->backoff_.failed(ec);
          if (self->handlers_.accept_failed)
            self->handlers_.accept_failed(failure, ec);
          if (failure.retry_in.count() == 0) {
            self->accept_next();
            return;
          }
          self->retry_.expires_after(failure.retry_in);
          self->retry_.async_wait([self](asio::error_code e) {
            if (!e && !self->stopped_)
              self->accept_next();
          });
          return;
        }
        self->backoff_.succeeded();
        self->accepted(asio::ip::tcp::socket{std::move(socket)});
      });
}

void tls_listener::accepted(asio::ip::tcp::socket socket) {
  auto conn =
      std::make_shared<tls_connection>(std::move(socket), tls_->current(), options_.max_read,
                                       options_.max_message_size, options_.timeouts);
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
