#include "tools/loadgen/stream_session.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>

namespace fa::tools {

using namespace std::chrono_literals;
using asio::ip::tcp;

stream_session::stream_session(asio::io_context& ioc, const loadgen_config& cfg, run_state& run,
                               std::uint32_t odid, tcp::endpoint target)
    : cfg_(cfg)
    , run_(run)
    , odid_(odid)
    , target_(target)
    , strand_(asio::make_strand(ioc))
    , socket_(strand_)
    , timer_(strand_)
    , factory_(cfg, odid) {
  // A write carries whole messages of --records-per-message records: about 5 ms of
  // records when paced (smooth, without tiny writes), about 256 KiB otherwise (many
  // messages per system call).
  std::uint64_t k = cfg_.records_per_message;
  std::uint64_t messages = 0;
  if (cfg_.rate > 0) {
    rate_ = cfg_.rate / cfg_.sessions;
    messages = static_cast<std::uint64_t>(rate_ * 0.005) / k;
  } else {
    auto per_record = std::max<std::size_t>(1, max_record_size(cfg_.kind) / 2);
    messages = (std::uint64_t{256} << 10) / per_record / k;
  }
  chunk_records_ = std::clamp<std::uint64_t>(messages, 1, 1024) * k;
}

void stream_session::pregenerate() {
  pregen_ = true;
  factory_.append_template_message(stream_);
  template_size_ = stream_.size();
  auto left = *cfg_.records;
  while (left > 0) {
    auto c = factory_.append_records(stream_, std::min(left, chunk_records_), nullptr);
    left -= c.records;
    chunks_.push_back(c);
  }
}

void stream_session::start() {
  asio::post(strand_, [self = shared_from_this()] { self->connect(); });
}

void stream_session::connect() {
  timer_.expires_after(cfg_.connect_timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec && !self->connected_) {
      self->connect_timed_out_ = true;
      std::error_code ignored;
      self->socket_.close(ignored);
    }
  });
  socket_.async_connect(target_,
                        [self = shared_from_this()](std::error_code ec) { self->on_connect(ec); });
}

void stream_session::on_connect(std::error_code ec) {
  connected_ = !ec && !connect_timed_out_;
  timer_.cancel();
  if (!connected_) {
    stats_.error = "connect to " + endpoint_text() +
                   " failed: " + (connect_timed_out_ ? std::string("timed out") : ec.message());
    return ended();
  }
  std::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (run_.tls)
    return handshake();
  start_sending();
}

void stream_session::handshake() {
  ssl_.reset(SSL_new(run_.tls->native_handle()));
  std::error_code ec;
  socket_.non_blocking(true, ec);
  if (!ssl_ || ec)
    return fail("tls setup", ec ? ec : std::make_error_code(std::errc::not_enough_memory));
  SSL_set_fd(ssl_.get(), socket_.native_handle());
  SSL_set_connect_state(ssl_.get());
  // Whole writes are cut into records and sent as the socket takes them.
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const auto& name = cfg_.tls_server_name.empty() ? cfg_.target.host : cfg_.tls_server_name;
  asio::ip::make_address(name, ec);
  if (ec) { // a host name: SNI, and the certificate must name it (RFC 6125)
    SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
    SSL_set1_host(ssl_.get(), name.c_str());
  } else { // an address: the certificate must hold it as an IP SAN
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str());
  }
  timer_.expires_after(cfg_.connect_timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec && !self->handshake_done_) {
      std::error_code ignored;
      self->socket_.close(ignored);
    }
  });
  handshake_step();
}

void stream_session::handshake_step() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    handshake_done_ = true;
    timer_.cancel();
    if (!pregen_)
      return start_sending();
    if (!seal())
      return fail("tls encryption", ssl_error(0));
    seal_reported_ = true;
    run_.sealed([self = shared_from_this()] {
      asio::post(self->strand_, [self] { self->start_sending(); });
    });
    return;
  }
  int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    socket_.async_wait(e == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                       [self = shared_from_this()](std::error_code ec) {
                         if (ec)
                           return self->fail("tls handshake", ec);
                         self->handshake_step();
                       });
    return;
  }
  handshake_done_ = true;
  timer_.cancel();
  fail("tls handshake", ssl_error(r));
}

bool stream_session::seal() {
  SSL* s = ssl_.get();
  BIO* socket_bio = SSL_get_wbio(s);
  BIO* mem = BIO_new(BIO_s_mem());
  if (!socket_bio || !mem || BIO_up_ref(socket_bio) != 1) {
    BIO_free(mem);
    return false;
  }
  SSL_set0_wbio(s, mem);
  // About 22 octets per 16 KiB record of TLS 1.3 overhead (RFC 8446 5.2).
  sealed_.tail(stream_.size() + stream_.size() / 256 + 4096);
  auto encrypt = [&](std::size_t begin, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      std::size_t w = 0;
      if (SSL_write_ex(s, stream_.data() + begin + done, size - done, &w) != 1)
        return false;
      done += w;
    }
    auto n = static_cast<std::size_t>(BIO_pending(mem));
    auto* at = sealed_.tail(n);
    if (BIO_read(mem, at, static_cast<int>(n)) != static_cast<int>(n))
      return false;
    sealed_spans_.push_back({static_cast<std::size_t>(at - sealed_.data()), n});
    sealed_.commit(n);
    return true;
  };
  bool ok = encrypt(0, template_size_);
  for (std::size_t i = 0; ok && i < chunks_.size(); ++i)
    ok = encrypt(chunks_[i].begin, chunks_[i].size);
  SSL_set0_wbio(s, socket_bio); // takes back the reference taken above
  if (ok)
    stream_ = byte_buffer{}; // the plaintext is not needed any more
  return ok;
}

asio::const_buffer stream_session::sealed_buffer(std::size_t i) const {
  return asio::buffer(sealed_.data() + sealed_spans_[i].first, sealed_spans_[i].second);
}

std::error_code stream_session::ssl_error(int ret) {
  int e = SSL_get_error(ssl_.get(), ret);
  if (e == SSL_ERROR_ZERO_RETURN)
    return asio::error::eof;
  if (auto err = ERR_get_error(); err != 0) {
    if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
        ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      return asio::ssl::error::stream_truncated;
    return {static_cast<int>(err), asio::error::get_ssl_category()};
  }
  if (e == SSL_ERROR_SYSCALL && errno != 0)
    return {errno, std::system_category()};
  return asio::ssl::error::stream_truncated;
}

template <class Handler>
void stream_session::tls_write(const std::uint8_t* p, std::size_t n, std::size_t done,
                               Handler handler) {
  while (done < n) {
    ERR_clear_error();
    std::size_t w = 0;
    if (SSL_write_ex(ssl_.get(), p + done, n - done, &w) == 1) {
      done += w;
      continue;
    }
    int e = SSL_get_error(ssl_.get(), 0);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      socket_.async_wait(e == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write
                                                   : tcp::socket::wait_read,
                         [self = shared_from_this(), p, n, done,
                          handler = std::move(handler)](std::error_code ec) mutable {
                           if (ec)
                             return handler(ec, done);
                           self->tls_write(p, n, done, std::move(handler));
                         });
      return;
    }
    return handler(ssl_error(0), done);
  }
  handler(std::error_code{}, done);
}

template <class Handler>
void stream_session::write_all(const asio::const_buffer& buffer, Handler&& handler) {
  if (ssl_ && !sealed())
    tls_write(static_cast<const std::uint8_t*>(buffer.data()), buffer.size(), 0,
              std::forward<Handler>(handler));
  else
    asio::async_write(socket_, buffer, std::forward<Handler>(handler));
}

template <class Handler>
void stream_session::tls_read(Handler handler) {
  for (;;) {
    ERR_clear_error();
    std::size_t got = 0;
    if (SSL_read_ex(ssl_.get(), read_buf_.data(), read_buf_.size(), &got) == 1)
      continue;
    int e = SSL_get_error(ssl_.get(), 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      socket_.async_wait(
          e == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
          [self = shared_from_this(), handler = std::move(handler)](std::error_code ec) mutable {
            if (ec)
              return handler(ec, 0);
            self->tls_read(std::move(handler));
          });
      return;
    }
    return handler(ssl_error(0), 0);
  }
}

template <class Buffers, class Handler>
void stream_session::read_some(const Buffers& buffers, Handler&& handler) {
  if (ssl_)
    tls_read(std::forward<Handler>(handler));
  else
    socket_.async_read_some(buffers, std::forward<Handler>(handler));
}

void stream_session::tls_shutdown() {
  ERR_clear_error();
  int r = SSL_shutdown(ssl_.get());
  if (r >= 0)
    return;
  int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_WRITE)
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](std::error_code ec) {
      if (!ec && self->socket_.is_open())
        self->tls_shutdown();
    });
}

void stream_session::start_sending() {
  t0_ = steady::now();
  read_loop();
  if (!pregen_)
    factory_.append_template_message(stream_);
  // The template message goes out alone, before any data (RFC 7011 8).
  write_all(sealed() ? sealed_buffer(0)
                     : asio::buffer(stream_.data(), pregen_ ? template_size_ : stream_.size()),
            [self = shared_from_this()](std::error_code ec, std::size_t n) {
              if (ec)
                return self->fail("write", ec);
              self->stats_.bytes += n;
              ++self->stats_.messages; // the template message
              self->send_next();
            });
}

void stream_session::read_loop() {
  read_some(asio::buffer(read_buf_), [self = shared_from_this()](std::error_code ec, std::size_t) {
    if (!ec)
      return self->read_loop();
    self->peer_closed_ = true;
    if (self->closing_) {
      self->timer_.cancel();
      self->close();
    } else {
      // Wake a paced session now rather than at its next slot.
      self->timer_.cancel();
    }
  });
}

void stream_session::send_next() {
  if (closing_) // failed, or already finishing
    return;
  if (all_sent()) {
    stats_.complete = true;
    return finish();
  }
  if (peer_closed_) {
    stats_.peer_closed_early = true;
    return finish();
  }
  auto now = steady::now();
  if (run_.stop.load(std::memory_order_relaxed))
    return finish(); // interrupted
  if (run_.deadline && now >= *run_.deadline) {
    stats_.complete = true; // --duration ends a run normally
    return finish();
  }
  if (rate_ > 0) {
    // The chunk goes out when its first record is due; a session that fell behind
    // forgets debts older than 50 ms instead of bursting to catch up.
    auto due = t0_ + std::chrono::duration_cast<steady::duration>(
                         std::chrono::duration<double>(static_cast<double>(scheduled_) / rate_));
    if (now > due + 50ms) {
      t0_ += (now - due) - 50ms;
      due = now - 50ms;
    }
    if (due > now) {
      // Bounded sleep: never past the deadline, and at most 100 ms at a time.
      auto wake = std::min(due, now + 100ms);
      if (run_.deadline)
        wake = std::min(wake, *run_.deadline);
      timer_.expires_at(wake);
      timer_.async_wait([self = shared_from_this()](std::error_code) { self->send_next(); });
      return;
    }
  }
  chunk c;
  if (pregen_) {
    c = chunks_[next_chunk_++];
  } else {
    auto n = chunk_records_;
    if (cfg_.records)
      n = std::min(n, *cfg_.records - factory_.generated());
    stream_.clear();
    stamps_.clear();
    c = factory_.append_records(stream_, n, cfg_.stamp ? &stamps_ : nullptr);
    if (cfg_.stamp) {
      auto ns = monotonic_ns();
      for (auto off : stamps_)
        ipfix::write_u64(stream_.data() + off, ns);
    }
  }
  scheduled_ += c.records;
  write_all(sealed() ? sealed_buffer(next_chunk_) : asio::buffer(stream_.data() + c.begin, c.size),
            [self = shared_from_this(), c](std::error_code ec, std::size_t n) {
              if (ec)
                return self->fail("write", ec);
              self->stats_.bytes += n;
              self->stats_.records += c.records;
              self->stats_.messages += c.messages;
              self->stats_.last_write = steady::now();
              self->send_next();
            });
}

void stream_session::finish() {
  closing_ = true;
  std::error_code ignored;
  if (ssl_) // close_notify (RFC 8446 6.1): the collector reads up to it, then closes
    tls_shutdown();
  else
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  if (peer_closed_)
    return close();
  timer_.expires_after(cfg_.close_timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec && !self->peer_closed_) {
      self->stats_.peer_close_timeout = true;
      self->close();
    }
  });
}

void stream_session::close() {
  std::error_code ignored;
  socket_.close(ignored);
  ended();
}

void stream_session::ended() {
  if (ended_)
    return;
  ended_ = true;
  if (run_.tls && pregen_ && !seal_reported_) { // failed before sealing: do not hold the rest
    seal_reported_ = true;
    run_.sealed(nullptr);
  }
  if (run_.active.fetch_sub(1) == 1)
    run_.all_done();
}

void stream_session::fail(const char* what, std::error_code ec) {
  if (stats_.error.empty())
    stats_.error = std::string(what) + " to " + endpoint_text() + " (ODID " +
                   std::to_string(odid_) + ") failed after " + std::to_string(stats_.records) +
                   " records: " + ec.message();
  closing_ = true;
  timer_.cancel();
  close();
}

std::string stream_session::endpoint_text() const {
  auto a = target_.address().to_string();
  if (target_.address().is_v6())
    a = "[" + a + "]";
  return a + ":" + std::to_string(target_.port());
}

} // namespace fa::tools
