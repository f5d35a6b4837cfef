// ipfix-loadgen: many concurrent IPFIX-over-TCP exporter sessions with deterministic
// content (tools/loadgen_content.hpp), for tests and benchmarks of the mediator.
// With --tls-ca the sessions speak TLS (RFC 7011 11); --write saves the messages to a
// file instead of sending them.

#include "tools/cli.hpp"
#include "tools/loadgen_content.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fa::tools {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using asio::ip::tcp;

struct loadgen_config {
  host_port target{"127.0.0.1", 4739};
  std::uint32_t sessions = 1;
  std::optional<std::uint64_t> records; ///< per session
  std::optional<std::chrono::nanoseconds> duration;
  double rate = 0; ///< total records/s over all sessions; 0 = as fast as possible
  std::uint32_t records_per_message = 32;
  template_kind kind = template_kind::minimal;
  std::uint64_t seed = 1;
  std::uint32_t odid_base = 1000;
  /// Session i uses ODID odid_base + i * odid_step: several load generators then play
  /// interleaved sessions of one pair content (--pair-base), each to its own target.
  std::uint32_t odid_step = 1;
  std::optional<std::uint32_t> pair_base; ///< --pairs: session 0's ODID (default odid_base)
  bool stamp = false;
  std::chrono::nanoseconds connect_timeout = 5s;
  std::chrono::nanoseconds close_timeout = 5s;
  std::string report;
  // --tls-ca (RFC 7011 11): sessions are TLS clients that verify the target against the
  // CA and present --tls-cert when given.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string write_file; ///< --write: the sessions' messages go to this file, in order
  unsigned io_threads = 1;
  std::uint64_t pregen_limit = 512ULL << 20;
  std::uint16_t template_id = 256;
  bool quiet = false;
  // --transport udp (RFC 7011 10.3): each message is one datagram.
  bool udp = false;
  std::uint32_t max_datagram = 1400;              ///< UDP: largest message (= datagram payload)
  std::chrono::nanoseconds template_refresh = 1s; ///< UDP: templates re-sent this often
  /// UDP: records per session encoded once and sent round and round (0: every record,
  /// when they fit --pregen-limit; otherwise each datagram is encoded as it is sent).
  std::uint64_t udp_ring = 0;
  /// --pairs: flows per pair of sessions of the aggregate-mode content (0: the
  /// template's own content).
  std::uint64_t pair_flows = 0;
  /// Index of each session's first record (--first-record): with --pairs, round R of
  /// F flows starts at R * F, so a later run continues the flows of an earlier one.
  std::uint64_t first_record = 0;
};

/// One record of the configured content: the pair content with --pairs, else the
/// template kind's.
std::size_t write_content(const loadgen_config& cfg, std::uint32_t odid, std::uint64_t index,
                          std::uint8_t* dst) {
  if (cfg.pair_flows > 0)
    return write_pair_record(cfg.kind, {cfg.pair_flows, cfg.pair_base.value_or(cfg.odid_base)},
                             cfg.seed, odid, index, dst);
  return write_record(cfg.kind, cfg.seed, odid, index, dst);
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

/// A growable byte buffer that does not zero what it reserves: records are written
/// straight into it.
class byte_buffer {
 public:
  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }
  /// Makes room for `n` more octets and returns where they start.
  std::uint8_t* tail(std::size_t n) {
    if (capacity_ - size_ < n) {
      auto cap = std::max(capacity_ * 2, size_ + n);
      std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[cap]);
      if (size_ > 0)
        std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
      capacity_ = cap;
    }
    return data_.get() + size_;
  }
  void commit(std::size_t n) { size_ += n; }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Slices of a session's byte stream, each made of whole messages.
struct chunk {
  std::size_t begin = 0;
  std::size_t size = 0;
  std::uint64_t records = 0;
  std::uint64_t messages = 0;
};

/// Builds the messages of one session: sequence numbers count the data records sent
/// before each message (RFC 7011 3.1).
class message_factory {
 public:
  message_factory(const loadgen_config& cfg, std::uint32_t odid)
      : cfg_(cfg)
      , odid_(odid)
      , max_record_(max_record_size(cfg.kind))
      , octet_delta_(octet_delta_offset(cfg.kind))
      , next_index_(cfg.first_record) {}

  /// The template message (set id 2) that opens the session.
  void append_template_message(byte_buffer& buf) const {
    auto def = make_template(cfg_.kind, cfg_.template_id);
    std::size_t set_len = ipfix::set_header_size + 4;
    for (auto& f : def.fields)
      set_len += f.encoded_size();
    auto len = ipfix::message_header_size + set_len;
    auto* p = buf.tail(len);
    write_header(p, len, static_cast<std::uint32_t>(seq_));
    ipfix::write_u16(p + 16, ipfix::template_set_id);
    ipfix::write_u16(p + 18, static_cast<std::uint16_t>(set_len));
    ipfix::write_u16(p + 20, def.id);
    ipfix::write_u16(p + 22, static_cast<std::uint16_t>(def.fields.size()));
    auto* q = p + 24;
    for (auto& f : def.fields) {
      // RFC 7011 3.2: the enterprise bit, then the enterprise number.
      ipfix::write_u16(q, static_cast<std::uint16_t>(f.id | (f.enterprise != 0 ? 0x8000 : 0)));
      ipfix::write_u16(q + 2, f.length);
      q += 4;
      if (f.enterprise != 0) {
        ipfix::write_u32(q, f.enterprise);
        q += 4;
      }
    }
    buf.commit(len);
  }

  /// Appends messages holding the next `records` records. Returns the chunk; when
  /// `stamps` is not null it receives each record's octetDeltaCount offset in `buf`.
  /// `limit` bounds each message (UDP: the datagram size); a record that would not fit
  /// starts the next message.
  chunk append_records(byte_buffer& buf, std::uint64_t records, std::vector<std::size_t>* stamps,
                       std::size_t limit = ipfix::max_message_size) {
    chunk c;
    c.begin = buf.size();
    auto export_time = static_cast<std::uint32_t>(std::time(nullptr));
    while (records > 0) {
      auto want = std::min<std::uint64_t>(records, cfg_.records_per_message);
      auto* p = buf.tail(ipfix::message_header_size + ipfix::set_header_size + want * max_record_);
      std::size_t pos = ipfix::message_header_size + ipfix::set_header_size;
      std::uint64_t n = 0;
      // RFC 7011 10: a message never exceeds 65535 octets.
      while (n < want && pos + max_record_ <= ipfix::max_message_size) {
        auto len = write_content(cfg_, odid_, next_index_, p + pos);
        if (pos + len > limit)
          break; // not committed: the next message starts with this record
        if (stamps != nullptr)
          stamps->push_back(buf.size() + pos + octet_delta_);
        pos += len;
        ++next_index_;
        ++n;
      }
      if (n == 0)
        break; // a record larger than `limit`: the caller checked this cannot happen
      write_header(p, pos, export_time);
      ipfix::write_u16(p + 16, cfg_.template_id);
      ipfix::write_u16(p + 18, static_cast<std::uint16_t>(pos - ipfix::message_header_size));
      buf.commit(pos);
      seq_ += n;
      records -= n;
      c.records += n;
      ++c.messages;
    }
    c.size = buf.size() - c.begin;
    return c;
  }

  /// Records generated so far (not counting --first-record).
  std::uint64_t generated() const { return next_index_ - cfg_.first_record; }

 private:
  void write_header(std::uint8_t* p, std::size_t len, std::uint32_t export_time) const {
    ipfix::write_u16(p, ipfix::ipfix_version);
    ipfix::write_u16(p + 2, static_cast<std::uint16_t>(len));
    ipfix::write_u32(p + 4, export_time);
    ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq_)); // modulo 2^32
    ipfix::write_u32(p + 12, odid_);
  }

  const loadgen_config& cfg_;
  std::uint32_t odid_;
  std::size_t max_record_;
  std::size_t octet_delta_;
  std::uint64_t next_index_;
  std::uint64_t seq_ = 0;
};

struct session_stats {
  std::uint64_t records = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  bool complete = false;
  bool peer_closed_early = false;
  bool peer_close_timeout = false;
  std::string error;
  steady::time_point last_write{};
};

/// Shared run state: the stop request (signal or deadline), the start time, and the
/// number of sessions still running (the last one to end calls `all_done`).
struct run_state {
  std::atomic<bool> stop{false};
  steady::time_point start{};
  std::optional<steady::time_point> deadline;
  std::atomic<std::uint32_t> active{0};
  std::function<void()> all_done;
  asio::ssl::context* tls = nullptr; ///< set: sessions speak TLS

  /// TLS with pre-generated streams: sessions that have not yet finished their
  /// handshake and encrypted their stream (`session::seal`). The sessions start sending
  /// together once the last has, so that no session's encryption runs while another
  /// sends: the run then measures the receiver's TLS, not this tool's.
  std::uint32_t sealing = 0;
  /// One call per session: `go` starts its sending (nothing for a session that failed).
  void sealed(std::function<void()> go) {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard guard{seal_mutex};
      if (go)
        waiting.push_back(std::move(go));
      if (--sealing == 0)
        ready.swap(waiting);
    }
    for (auto& g : ready)
      g();
  }
  std::mutex seal_mutex;
  std::vector<std::function<void()>> waiting;
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(asio::io_context& ioc, const loadgen_config& cfg, run_state& run, std::uint32_t odid,
          tcp::endpoint target)
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

  /// Builds the whole byte stream up front (when --records is given and it fits).
  void pregenerate() {
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

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->connect(); });
  }

  const session_stats& stats() const { return stats_; }
  /// The pre-generated byte stream (--write).
  const byte_buffer& bytes() const { return stream_; }

 private:
  void connect() {
    timer_.expires_after(cfg_.connect_timeout);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec && !self->connected_) {
        self->connect_timed_out_ = true;
        std::error_code ignored;
        self->socket_.close(ignored);
      }
    });
    socket_.async_connect(
        target_, [self = shared_from_this()](std::error_code ec) { self->on_connect(ec); });
  }

  void on_connect(std::error_code ec) {
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

  /// TLS client handshake (the exporter is the client, RFC 7011 11), bounded by
  /// --connect-timeout. The target must prove the name --tls-server-name (default: the
  /// target host), sent as SNI when it is a host name (RFC 6066 3).
  ///
  /// OpenSSL works on the socket itself (non-blocking, driven by readiness waits), not
  /// through asio::ssl::stream's memory BIO pair, which copies every octet twice more
  /// on its way out: the sender shares the CPU with the mediator it measures.
  void handshake() {
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

  void handshake_step() {
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
      socket_.async_wait(e == SSL_ERROR_WANT_READ ? tcp::socket::wait_read
                                                  : tcp::socket::wait_write,
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

  /// Encrypts the whole pre-generated stream before sending (see run_state::sealing),
  /// so that sending it costs what plain TCP does. The TLS records go to a memory BIO
  /// in the order they will be sent, then the socket BIO is put back for close_notify:
  /// the record sequence numbers run on (RFC 8446 5.3), so the peer reads one ordinary
  /// stream. Nothing else may be written meanwhile: a peer asking for a KeyUpdate
  /// (flow-aggregator never does) would break it.
  bool seal() {
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

  /// Whether the stream was encrypted ahead (TLS + pregen): it then goes out as is.
  bool sealed() const { return !sealed_spans_.empty(); }

  /// The encrypted form of the template message (0) or of chunk i - 1.
  asio::const_buffer sealed_buffer(std::size_t i) const {
    return asio::buffer(sealed_.data() + sealed_spans_[i].first, sealed_spans_[i].second);
  }

  /// The error of a failed SSL call, as asio::ssl would report it.
  std::error_code ssl_error(int ret) {
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

  /// TLS: writes [p, p + n) through OpenSSL (records of up to 16 KiB), waiting for the
  /// socket when it is full; `handler(ec, written)` once, at the end.
  template <class Handler>
  void tls_write(const std::uint8_t* p, std::size_t n, std::size_t done, Handler handler) {
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
  void write_all(const asio::const_buffer& buffer, Handler&& handler) {
    if (ssl_ && !sealed())
      tls_write(static_cast<const std::uint8_t*>(buffer.data()), buffer.size(), 0,
                std::forward<Handler>(handler));
    else
      asio::async_write(socket_, buffer, std::forward<Handler>(handler));
  }

  /// TLS: reads (and discards) what OpenSSL has, then waits for the socket; calls
  /// `handler` with the error that ended the stream (eof: the peer's close_notify).
  template <class Handler>
  void tls_read(Handler handler) {
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
  void read_some(const Buffers& buffers, Handler&& handler) {
    if (ssl_)
      tls_read(std::forward<Handler>(handler));
    else
      socket_.async_read_some(buffers, std::forward<Handler>(handler));
  }

  /// close_notify (RFC 8446 6.1), sent when the socket takes it.
  void tls_shutdown() {
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

  void start_sending() {
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

  /// Reads (and discards) until the peer closes: a collector signals a graceful stop
  /// by shutting down its side, and we must then stop sending.
  void read_loop() {
    read_some(asio::buffer(read_buf_),
              [self = shared_from_this()](std::error_code ec, std::size_t) {
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

  bool all_sent() const { return cfg_.records && stats_.records >= *cfg_.records; }

  void send_next() {
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
    write_all(sealed() ? sealed_buffer(next_chunk_)
                       : asio::buffer(stream_.data() + c.begin, c.size),
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

  /// Closes cleanly: shut down our side, then wait (bounded) for the peer's close so
  /// the collector has read everything before we go.
  void finish() {
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

  void close() {
    std::error_code ignored;
    socket_.close(ignored);
    ended();
  }

  /// Called once when the session is over, whatever the way.
  void ended() {
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

  void fail(const char* what, std::error_code ec) {
    if (stats_.error.empty())
      stats_.error = std::string(what) + " to " + endpoint_text() + " (ODID " +
                     std::to_string(odid_) + ") failed after " + std::to_string(stats_.records) +
                     " records: " + ec.message();
    closing_ = true;
    timer_.cancel();
    close();
  }

  std::string endpoint_text() const {
    auto a = target_.address().to_string();
    if (target_.address().is_v6())
      a = "[" + a + "]";
    return a + ":" + std::to_string(target_.port());
  }

  const loadgen_config& cfg_;
  run_state& run_;
  std::uint32_t odid_;
  tcp::endpoint target_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::socket socket_;
  struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL, ssl_free> ssl_; ///< --tls-ca only; on socket_'s descriptor
  bool handshake_done_ = false;
  asio::steady_timer timer_;
  message_factory factory_;
  session_stats stats_;

  byte_buffer stream_;              ///< live: the current chunk; pregen: everything
  std::vector<std::size_t> stamps_; ///< octetDeltaCount offsets in the current chunk
  std::vector<chunk> chunks_;       ///< pregen only
  std::size_t next_chunk_ = 0;
  std::size_t template_size_ = 0;
  bool pregen_ = false;
  byte_buffer sealed_; ///< TLS + pregen: the encrypted stream (see seal)
  std::vector<std::pair<std::size_t, std::size_t>> sealed_spans_; ///< offset, size
  bool seal_reported_ = false;

  double rate_ = 0; ///< records/s of this session
  std::uint64_t chunk_records_ = 0;
  std::uint64_t scheduled_ = 0;
  steady::time_point t0_{};

  std::array<std::uint8_t, 512> read_buf_{};
  bool connected_ = false;
  bool connect_timed_out_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool ended_ = false;
};

loadgen_config parse_args(int argc, char** argv) {
  loadgen_config cfg;
  arg_parser p("ipfix-loadgen",
               "Sends IPFIX over TCP from many concurrent exporter sessions. Each session sends "
               "its template,\nthen data records whose every field is a function of (seed, "
               "ODID, index), so ipfix-collector\n--verify can check them byte for byte.");
  auto uint_opt = [](auto& target, std::uint64_t lo, std::uint64_t hi) {
    return [&target, lo, hi](std::string_view v) {
      auto n = parse_uint(v);
      if (!n || *n < lo || *n > hi)
        return false;
      target = static_cast<std::remove_reference_t<decltype(target)>>(*n);
      return true;
    };
  };
  p.option("target", "HOST:PORT", "collector or mediator to send to (default 127.0.0.1:4739)",
           "127.0.0.1:4739 or [::1]:4739", [&](std::string_view v) {
             auto hp = parse_host_port(v);
             if (hp)
               cfg.target = *hp;
             return hp.has_value();
           });
  p.option("sessions", "N", "concurrent TCP exporter sessions (default 1)", "1..100000",
           uint_opt(cfg.sessions, 1, 100000));
  p.option("records", "N", "data records per session (default 100000 unless --duration)",
           "a number", [&](std::string_view v) {
             cfg.records = parse_uint(v);
             return cfg.records.has_value();
           });
  p.option("duration", "TIME",
           "send for this long (10s, 500ms, 2m); with --records, whichever\n"
           "ends first",
           "a duration like 10s", [&](std::string_view v) {
             cfg.duration = parse_duration(v);
             return cfg.duration && cfg.duration->count() > 0;
           });
  p.option("rate", "R", "total records/s over all sessions, paced smoothly (0 = unlimited)",
           "a number >= 0", [&](std::string_view v) {
             auto r = parse_number(v);
             if (r)
               cfg.rate = *r;
             return r.has_value();
           });
  p.option("records-per-message", "K",
           "data records per message (default 32; messages never "
           "exceed\n65535 octets)",
           "1..65535", uint_opt(cfg.records_per_message, 1, 65535));
  p.option("template", "KIND", "antrea-v4, antrea-v6 or minimal (default minimal)",
           "antrea-v4, antrea-v6 or minimal", [&](std::string_view v) {
             auto k = parse_template_kind(v);
             if (k)
               cfg.kind = *k;
             return k.has_value();
           });
  p.option("template-id", "ID", "template id to use (default 256)", "256..65535",
           uint_opt(cfg.template_id, 256, 65535));
  p.option("seed", "S", "content seed (default 1); give the same to ipfix-collector --verify",
           "a number", uint_opt(cfg.seed, 0, UINT64_MAX));
  p.option("odid-base", "B", "session i uses observation domain id B + i (default 1000)",
           "a 32-bit number", uint_opt(cfg.odid_base, 0, UINT32_MAX));
  p.flag("stamp",
         "write CLOCK_MONOTONIC nanoseconds at send time into every record's\n"
         "octetDeltaCount (ipfix-collector --stamp measures latency)",
         [&] { cfg.stamp = true; });
  p.option("connect-timeout", "TIME", "give up connecting after this long (default 5s)",
           "a duration like 5s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d)
               cfg.connect_timeout = *d;
             return d.has_value();
           });
  p.option("close-timeout", "TIME",
           "after sending, wait this long for the peer to close "
           "(default 5s)",
           "a duration like 5s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d)
               cfg.close_timeout = *d;
             return d.has_value();
           });
  p.option("report", "FILE",
           "write a JSON report (sessions, records, messages, bytes, "
           "seconds,\nrecords_per_s, complete)",
           "a file name", [&](std::string_view v) {
             cfg.report = std::string(v);
             return !v.empty();
           });
  p.option("io-threads", "N", "threads running the sessions (default 1)", "1..64",
           uint_opt(cfg.io_threads, 1, 64));
  p.option("pregen-limit", "SIZE",
           "with --records, without --rate and --stamp, build all "
           "messages\nbefore connecting when they fit in SIZE (default 512MiB; 0 disables);\n"
           "with --tls-ca each session also encrypts its stream after the handshake,\nand all "
           "start sending together",
           "a size like 512MiB", [&](std::string_view v) {
             auto s = parse_size(v);
             if (s)
               cfg.pregen_limit = *s;
             return s.has_value();
           });
  p.flag("quiet", "no summary line on stderr", [&] { cfg.quiet = true; });
  auto text_opt = [](std::string& target) {
    return [&target](std::string_view v) {
      target = std::string(v);
      return !v.empty();
    };
  };
  p.option("tls-ca", "FILE",
           "speak TLS (RFC 7011 11); verify the target's certificate with\nthis PEM CA",
           "a file name", [&](std::string_view v) {
             cfg.tls = true;
             return text_opt(cfg.tls_ca)(v);
           });
  p.option("tls-cert", "FILE", "TLS: client certificate (PEM) for mutual authentication",
           "a file name", text_opt(cfg.tls_cert));
  p.option("tls-key", "FILE", "TLS: the key of --tls-cert (PEM)", "a file name",
           text_opt(cfg.tls_key));
  p.option("tls-server-name", "NAME",
           "TLS: the name the target's certificate must hold, sent as SNI\n"
           "(default: the --target host)",
           "a host name or address", text_opt(cfg.tls_server_name));
  p.option("write", "FILE",
           "write each session's messages (template first) to FILE, one session\n"
           "after the other, instead of sending them (needs --records)",
           "a file name", text_opt(cfg.write_file));
  p.option("transport", "T",
           "tcp (default) or udp: one datagram per message, --max-datagram\n"
           "octets at most, sent in sendmmsg batches; pace with --rate",
           "tcp or udp", [&](std::string_view v) {
             cfg.udp = v == "udp";
             return v == "udp" || v == "tcp";
           });
  p.option("max-datagram", "SIZE",
           "UDP: largest message, i.e. datagram payload (default 1400, RFC 7011\n10.3.3)",
           "64..65507", uint_opt(cfg.max_datagram, 64, 65507));
  p.option("udp-ring", "N",
           "UDP: encode N records per session once and send them round and round,\n"
           "patching only the message headers (sequence number, export time): a\n"
           "cheap sender for benchmarks. Content then repeats every N records, so\n"
           "ipfix-collector --verify fails past N. Default: all of --records when\n"
           "they fit --pregen-limit (exact content), else encoded while sending",
           "a number >= 1", uint_opt(cfg.udp_ring, 1, UINT64_MAX));
  p.option("template-refresh", "TIME", "UDP: re-send the template this often (default 1s)",
           "a duration like 1s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d && d->count() > 0)
               cfg.template_refresh = *d;
             return d && d->count() > 0;
           });
  p.option("pairs", "F",
           "aggregate-mode content: sessions 2p and 2p+1 play the source and the\n"
           "destination Node of the F inter-Node flows of pair p; record i of a\n"
           "session is flow i % F in round i / F, its counters growing each round\n"
           "(needs an antrea template)",
           "1..4194304", uint_opt(cfg.pair_flows, 1, 1ULL << 22));
  p.option("first-record", "N",
           "index of each session's first record (default 0): with --pairs F,\n"
           "N = R * F starts at round R, so this run continues the flows of an\n"
           "earlier one that sent rounds 0..R-1",
           "a number", uint_opt(cfg.first_record, 0, UINT64_MAX));
  p.option("odid-step", "K",
           "session i uses observation domain id B + i * K (default 1): with --pair-base,\n"
           "several load generators play interleaved sessions of one pair content",
           "1..65536", uint_opt(cfg.odid_step, 1, 65536));
  p.option("pair-base", "B",
           "--pairs: the ODID of pair content session 0 (default --odid-base); a session\n"
           "with ODID o plays pair content session o - B",
           "a 32-bit number", [&](std::string_view v) {
             std::uint32_t b = 0;
             if (!uint_opt(b, 0, UINT32_MAX)(v))
               return false;
             cfg.pair_base = b;
             return true;
           });
  p.parse(argc, argv);
  if (cfg.pair_base && cfg.pair_base > cfg.odid_base)
    p.fail("--pair-base must not exceed --odid-base");
  if (cfg.pair_flows > 0 && cfg.kind == template_kind::minimal)
    p.fail("--pairs needs --template antrea-v4 or antrea-v6");
  if (!cfg.records && !cfg.duration)
    cfg.records = 100000;
  if (std::uint64_t{cfg.odid_base} + std::uint64_t{cfg.sessions - 1} * cfg.odid_step > UINT32_MAX)
    p.fail("--odid-base + --sessions exceeds the 32-bit ODID range");
  if (!cfg.tls && (!cfg.tls_cert.empty() || !cfg.tls_key.empty() || !cfg.tls_server_name.empty()))
    p.fail("--tls-cert, --tls-key and --tls-server-name need --tls-ca");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    p.fail("--tls-cert and --tls-key go together");
  if (!cfg.write_file.empty() && cfg.duration)
    p.fail("--write needs --records, not --duration");
  return cfg;
}

std::string report_json(const loadgen_config& cfg, const session_stats& total, double seconds,
                        bool complete) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"sessions\":%u,\"records\":%llu,\"messages\":%llu,\"bytes\":%llu,"
                "\"seconds\":%.6f,\"records_per_s\":%.1f,\"complete\":%s}\n",
                cfg.sessions, static_cast<unsigned long long>(total.records),
                static_cast<unsigned long long>(total.messages),
                static_cast<unsigned long long>(total.bytes), seconds,
                seconds > 0 ? static_cast<double>(total.records) / seconds : 0.0,
                complete ? "true" : "false");
  return buf;
}

// -- UDP (RFC 7011 10.3) ---------------------------------------------------------------
//
// Each session is one connected UDP socket (its own source port, so the collector sees
// one exporter per session) sending one message per datagram, never larger than
// --max-datagram (RFC 7011 10.3.3). Datagrams leave in large sendmmsg batches. The
// template goes first and again every --template-refresh (RFC 7011 8.4). A blocking send
// is fine here: each io thread runs its share of the sessions in a loop.
//
// The sender shares the machine with what it measures, so its CPU per datagram matters:
// a session's datagrams are encoded once (a ring: all of --records, or --udp-ring
// records sent round and round) and sending one only patches its header's export time
// and sequence number (RFC 7011 3.1). --stamp, which writes every record, encodes each
// datagram as it is sent.

std::atomic<bool> udp_stop{false};

extern "C" void udp_on_signal(int) {
  udp_stop.store(true);
}

/// Datagrams per sendmmsg call (the kernel takes at most UIO_MAXIOV = 1024).
constexpr std::size_t udp_max_batch = 512;

/// A session's datagrams, encoded once.
struct udp_ring {
  struct datagram {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    std::uint32_t records = 0;
    std::uint64_t first = 0; ///< index of its first record
  };
  byte_buffer bytes;
  std::vector<datagram> datagrams;
};

struct udp_exporter {
  udp_exporter(const loadgen_config& cfg, std::uint32_t odid)
      : odid(odid)
      , factory(cfg, odid) {}
  int fd = -1;
  std::uint32_t odid;
  message_factory factory;
  byte_buffer buf;
  std::vector<std::size_t> stamps;
  std::vector<mmsghdr> hdrs;
  std::vector<iovec> iovs;
  session_stats stats;
  bool done = false;
  bool template_sent = false;
  steady::time_point last_template{};
  double forgiven = 0;            ///< paced: records of debt older than 50 ms, forgotten
  std::unique_ptr<udp_ring> ring; ///< null: datagrams are encoded as they are sent
  std::size_t ring_pos = 0;       ///< the ring's next datagram
  byte_buffer tail;               ///< ring: a last datagram holding fewer records
};

/// Encodes `records` records (indexes 0..records-1) into datagrams, once.
std::unique_ptr<udp_ring> build_ring(const loadgen_config& cfg, std::uint32_t odid,
                                     std::uint64_t records) {
  auto r = std::make_unique<udp_ring>();
  message_factory f(cfg, odid);
  f.append_records(r->bytes, records, nullptr, cfg.max_datagram);
  // Each message's sequence number counts the records before it (RFC 7011 3.1): from
  // 0, so it is the index of the message's first record (records < 2^32 here).
  for (std::size_t off = 0; off + ipfix::message_header_size <= r->bytes.size();) {
    const auto* p = r->bytes.data() + off;
    auto len = ipfix::read_u16(p + 2);
    r->datagrams.push_back({static_cast<std::uint32_t>(off), len, 0, ipfix::read_u32(p + 8)});
    off += len;
  }
  for (std::size_t i = 0; i < r->datagrams.size(); ++i) {
    auto next = i + 1 < r->datagrams.size() ? r->datagrams[i + 1].first : records;
    r->datagrams[i].records = static_cast<std::uint32_t>(next - r->datagrams[i].first);
  }
  return r;
}

/// Sends the datagrams described by `e.iovs` (one iovec each) with sendmmsg, in batches.
/// Returns an error text, or "" when all were sent.
std::string udp_send_iovs(udp_exporter& e) {
  e.hdrs.resize(e.iovs.size());
  for (std::size_t i = 0; i < e.iovs.size(); ++i) {
    e.hdrs[i] = mmsghdr{};
    e.hdrs[i].msg_hdr.msg_iov = &e.iovs[i];
    e.hdrs[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t sent = 0;
  int retries = 0;
  while (sent < e.hdrs.size()) {
    auto want = static_cast<unsigned>(std::min(udp_max_batch, e.hdrs.size() - sent));
    int n = ::sendmmsg(e.fd, e.hdrs.data() + sent, want, 0);
    if (n < 0) {
      // ENOBUFS/EAGAIN: the local queue is full for a moment; retry, bounded.
      if (errno == EINTR || ((errno == ENOBUFS || errno == EAGAIN) && ++retries < 1000)) {
        std::this_thread::sleep_for(100us);
        continue;
      }
      return std::string("send failed: ") + std::strerror(errno);
    }
    for (int i = 0; i < n; ++i)
      e.stats.bytes += e.iovs[sent + static_cast<std::size_t>(i)].iov_len;
    e.stats.messages += static_cast<std::uint64_t>(n);
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

/// Sends the whole messages in `e.buf` (each one datagram).
std::string udp_send_messages(udp_exporter& e) {
  e.iovs.clear();
  for (std::size_t off = 0; off + ipfix::message_header_size <= e.buf.size();) {
    auto len = ipfix::read_u16(e.buf.data() + off + 2);
    e.iovs.push_back({e.buf.data() + off, len});
    off += len;
  }
  return udp_send_iovs(e);
}

std::uint32_t export_time_now() {
  return static_cast<std::uint32_t>(std::time(nullptr));
}

/// Ring: sends whole datagrams holding at most `budget` records, and no more than
/// `left` (the session's records still to send): when fewer than the next datagram's
/// records are left, a shorter copy of it ends the session. Returns the records sent.
std::uint64_t udp_send_ring(const loadgen_config& cfg, udp_exporter& e, std::uint64_t budget,
                            std::uint64_t left, std::string& err) {
  auto& r = *e.ring;
  const auto now = export_time_now();
  const auto seq0 = e.stats.records;
  std::uint64_t taken = 0;
  e.iovs.clear();
  while (e.iovs.size() < udp_max_batch) {
    const auto& d = r.datagrams[e.ring_pos];
    const auto can = std::min(budget, left) - taken;
    if (d.records <= can) {
      // RFC 7011 3.1: the export time, and the records sent before this message.
      auto* p = r.bytes.data() + d.offset;
      ipfix::write_u32(p + 4, now);
      ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq0 + taken));
      e.iovs.push_back({p, d.length});
      taken += d.records;
      if (++e.ring_pos == r.datagrams.size()) {
        e.ring_pos = 0;
        break; // a datagram is patched once per call: the next call sends it again
      }
      continue;
    }
    if (left - taken < d.records && left - taken <= budget - taken && left > taken) {
      // The session's last records: the first `k` of this datagram.
      auto k = left - taken;
      e.tail.clear();
      auto* p = e.tail.tail(ipfix::message_header_size + ipfix::set_header_size +
                            k * max_record_size(cfg.kind));
      std::size_t pos = ipfix::message_header_size + ipfix::set_header_size;
      for (std::uint64_t i = 0; i < k; ++i)
        pos += write_content(cfg, e.odid, d.first + i, p + pos);
      ipfix::write_u16(p, ipfix::ipfix_version);
      ipfix::write_u16(p + 2, static_cast<std::uint16_t>(pos));
      ipfix::write_u32(p + 4, now);
      ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq0 + taken));
      ipfix::write_u32(p + 12, e.odid);
      ipfix::write_u16(p + 16, cfg.template_id);
      ipfix::write_u16(p + 18, static_cast<std::uint16_t>(pos - ipfix::message_header_size));
      e.tail.commit(pos);
      e.iovs.push_back({p, pos});
      taken += k;
    }
    break;
  }
  if (e.iovs.empty())
    return 0;
  err = udp_send_iovs(e);
  return err.empty() ? taken : 0;
}

/// One io thread's sessions, until each has sent everything or the run ends.
void udp_run_sessions(const loadgen_config& cfg, std::vector<udp_exporter*> mine,
                      std::optional<steady::time_point> deadline, steady::time_point start) {
  const double rate = cfg.rate > 0 ? cfg.rate / cfg.sessions : 0; // records/s per session
  // Unpaced: a large batch of datagrams per call; paced: what is due.
  const std::uint64_t per_round = std::uint64_t{udp_max_batch} * cfg.records_per_message;
  for (;;) {
    bool active = false, progress = false;
    auto now = steady::now();
    for (auto* e : mine) {
      if (e->done)
        continue;
      auto& st = e->stats;
      if (udp_stop.load()) {
        e->done = true;
        continue;
      }
      if ((cfg.records && st.records >= *cfg.records) || (deadline && now >= *deadline)) {
        st.complete = true; // --duration ends a run normally too
        e->done = true;
        continue;
      }
      active = true;
      if (!e->template_sent || now - e->last_template >= cfg.template_refresh) {
        e->buf.clear();
        e->factory.append_template_message(e->buf);
        // RFC 7011 3.1: the records sent so far (a ring does not advance the factory).
        ipfix::write_u32(e->buf.data() + 8, static_cast<std::uint32_t>(st.records));
        if (auto err = udp_send_messages(*e); !err.empty()) {
          st.error = err;
          e->done = true;
          continue;
        }
        e->template_sent = true;
        e->last_template = now;
      }
      std::uint64_t n = per_round;
      if (cfg.records)
        n = std::min(n, *cfg.records - st.records);
      if (rate > 0) {
        double due = rate * std::chrono::duration<double>(now - start).count() - e->forgiven;
        // A session that fell behind forgets debts older than 50 ms instead of bursting.
        if (due - static_cast<double>(st.records) > rate * 0.05 + cfg.records_per_message) {
          e->forgiven += due - static_cast<double>(st.records) - rate * 0.05;
          due = static_cast<double>(st.records) + rate * 0.05;
        }
        auto owed = due > static_cast<double>(st.records)
                        ? static_cast<std::uint64_t>(due - static_cast<double>(st.records))
                        : 0;
        // Wait until a full message (or 5 ms of records, if fewer) is due: paced
        // datagrams then carry as many records as unpaced ones, not one or two.
        auto least = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rate * 0.005), 1,
                                               cfg.records_per_message);
        n = owed >= std::min(least, n) ? std::min(n, owed) : 0;
      }
      if (n == 0)
        continue;
      std::string err;
      std::uint64_t sent = 0;
      if (e->ring) {
        auto left = cfg.records ? *cfg.records - st.records : UINT64_MAX;
        sent = udp_send_ring(cfg, *e, n, left, err);
      } else {
        e->buf.clear();
        e->stamps.clear();
        auto c = e->factory.append_records(e->buf, n, cfg.stamp ? &e->stamps : nullptr,
                                           cfg.max_datagram);
        if (cfg.stamp) {
          auto ns = monotonic_ns();
          for (auto off : e->stamps)
            ipfix::write_u64(e->buf.data() + off, ns);
        }
        err = udp_send_messages(*e);
        sent = err.empty() ? c.records : 0;
      }
      if (!err.empty()) {
        st.error = "send to the target (ODID " + std::to_string(e->odid) + ") failed after " +
                   std::to_string(st.records) + " records: " + err;
        e->done = true;
        continue;
      }
      if (sent == 0)
        continue; // paced: less than the ring's next datagram is due
      st.records += sent;
      st.last_write = steady::now();
      progress = true;
    }
    if (!active)
      return;
    if (!progress)
      std::this_thread::sleep_for(1ms); // paced and nothing due yet
  }
}

int run_udp(const loadgen_config& cfg, const asio::ip::address& address) {
  // RFC 7011 10.3.3: every message must fit one datagram, the template message too.
  auto def = make_template(cfg.kind, cfg.template_id);
  std::size_t template_size = ipfix::message_header_size + ipfix::set_header_size + 4;
  for (auto& f : def.fields)
    template_size += f.encoded_size();
  auto need = std::max(template_size, ipfix::message_header_size + ipfix::set_header_size +
                                          max_record_size(cfg.kind));
  if (cfg.max_datagram < need) {
    std::fprintf(stderr,
                 "ipfix-loadgen: --max-datagram %u is too small for template %s: at least %zu "
                 "octets are needed\n",
                 cfg.max_datagram, std::string(to_string(cfg.kind)).c_str(), need);
    return 2;
  }
  sockaddr_storage target{};
  socklen_t target_len = 0;
  if (address.is_v4()) {
    auto& a = reinterpret_cast<sockaddr_in&>(target);
    a.sin_family = AF_INET;
    a.sin_port = htons(cfg.target.port);
    auto b = address.to_v4().to_bytes();
    std::memcpy(&a.sin_addr, b.data(), 4);
    target_len = sizeof(sockaddr_in);
  } else {
    auto& a = reinterpret_cast<sockaddr_in6&>(target);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(cfg.target.port);
    auto b = address.to_v6().to_bytes();
    std::memcpy(&a.sin6_addr, b.data(), 16);
    a.sin6_scope_id = address.to_v6().scope_id();
    target_len = sizeof(sockaddr_in6);
  }
  // Records per session encoded once (see above): --udp-ring, or all of --records when
  // they fit --pregen-limit; none with --stamp (every record carries its send time).
  std::uint64_t ring_records = 0;
  if (!cfg.stamp) {
    if (cfg.udp_ring > 0)
      ring_records = cfg.records ? std::min(*cfg.records, cfg.udp_ring) : cfg.udp_ring;
    else if (cfg.records && static_cast<double>(*cfg.records) * cfg.sessions *
                                    static_cast<double>(max_record_size(cfg.kind)) <=
                                static_cast<double>(cfg.pregen_limit))
      ring_records = *cfg.records;
    // The ring's sequence numbers are its record indexes.
    ring_records = std::min<std::uint64_t>(ring_records, UINT32_MAX);
  }
  std::vector<std::unique_ptr<udp_exporter>> exporters;
  for (std::uint32_t i = 0; i < cfg.sessions; ++i) {
    auto e = std::make_unique<udp_exporter>(cfg, cfg.odid_base + i * cfg.odid_step);
    if (ring_records > 0)
      e->ring = build_ring(cfg, e->odid, ring_records);
    e->fd = ::socket(target.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (e->fd < 0 || ::connect(e->fd, reinterpret_cast<sockaddr*>(&target), target_len) != 0) {
      std::fprintf(stderr, "ipfix-loadgen: UDP socket to %s:%u: %s\n", cfg.target.host.c_str(),
                   cfg.target.port, std::strerror(errno));
      return 1;
    }
    exporters.push_back(std::move(e));
  }
  std::signal(SIGINT, udp_on_signal);
  std::signal(SIGTERM, udp_on_signal);
  auto start = steady::now();
  std::optional<steady::time_point> deadline;
  if (cfg.duration)
    deadline = start + std::chrono::duration_cast<steady::duration>(*cfg.duration);
  auto threads_n = std::min<std::size_t>(cfg.io_threads, exporters.size());
  std::vector<std::vector<udp_exporter*>> shares(threads_n);
  for (std::size_t i = 0; i < exporters.size(); ++i)
    shares[i % threads_n].push_back(exporters[i].get());
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < threads_n; ++t)
    threads.emplace_back(udp_run_sessions, std::cref(cfg), shares[t], deadline, start);
  udp_run_sessions(cfg, shares[0], deadline, start);
  for (auto& t : threads)
    t.join();

  session_stats total;
  steady::time_point last = start;
  bool complete = true;
  int failures = 0;
  std::string first_error;
  for (auto& e : exporters) {
    ::close(e->fd);
    auto& st = e->stats;
    total.records += st.records;
    total.messages += st.messages;
    total.bytes += st.bytes;
    last = std::max(last, st.last_write);
    complete = complete && st.complete;
    if (!st.error.empty() && failures++ == 0)
      first_error = st.error;
  }
  double seconds = std::chrono::duration<double>(last - start).count();
  if (!cfg.report.empty()) {
    if (auto err = write_file_atomically(cfg.report, report_json(cfg, total, seconds, complete));
        !err.empty())
      std::fprintf(stderr, "ipfix-loadgen: %s\n", err.c_str());
  }
  if (!cfg.quiet)
    std::fprintf(stderr,
                 "ipfix-loadgen: %u sessions, %llu records, %llu messages, %llu bytes in %.3f s: "
                 "%.0f records/s (%s)\n",
                 cfg.sessions, static_cast<unsigned long long>(total.records),
                 static_cast<unsigned long long>(total.messages),
                 static_cast<unsigned long long>(total.bytes), seconds,
                 seconds > 0 ? static_cast<double>(total.records) / seconds : 0.0,
                 std::string(to_string(cfg.kind)).c_str());
  if (failures > 0) {
    std::fprintf(stderr, "ipfix-loadgen: %d of %u sessions failed; first: %s\n", failures,
                 cfg.sessions, first_error.c_str());
    return 1;
  }
  if (udp_stop.load() && !complete) {
    std::fprintf(stderr, "ipfix-loadgen: interrupted before all was sent\n");
    return 130;
  }
  return 0;
}

/// The TLS client context, or null after saying on stderr which file is unusable.
std::unique_ptr<asio::ssl::context> make_tls_context(const loadgen_config& cfg) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  // RFC 7011 11.1: TLS 1.2 or later.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // TLS 1.3's default suites, AES-128-GCM first: with AES-NI the cheapest to encrypt.
  SSL_CTX_set_ciphersuites(
      ctx->native_handle(),
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  ctx->set_verify_mode(asio::ssl::verify_peer);
  std::error_code ec;
  auto bad = [&ec](const char* opt, const std::string& file) {
    std::fprintf(stderr, "ipfix-loadgen: %s %s: %s\n", opt, file.c_str(), ec.message().c_str());
    return nullptr;
  };
  if (ctx->load_verify_file(cfg.tls_ca, ec); ec)
    return bad("--tls-ca", cfg.tls_ca);
  if (!cfg.tls_cert.empty()) {
    if (ctx->use_certificate_chain_file(cfg.tls_cert, ec); ec)
      return bad("--tls-cert", cfg.tls_cert);
    if (ctx->use_private_key_file(cfg.tls_key, asio::ssl::context::pem, ec); ec)
      return bad("--tls-key", cfg.tls_key);
  }
  return ctx;
}

/// --write: every session's messages, pre-generated, into one file (RFC 5655 format:
/// concatenated messages).
int write_sessions(const loadgen_config& cfg, const std::vector<std::shared_ptr<session>>& all) {
  std::FILE* out = std::fopen(cfg.write_file.c_str(), "wb");
  if (out == nullptr) {
    std::fprintf(stderr, "ipfix-loadgen: --write %s: %s\n", cfg.write_file.c_str(),
                 std::strerror(errno));
    return 1;
  }
  bool ok = true;
  for (auto& s : all) {
    s->pregenerate();
    auto& b = s->bytes();
    ok = ok && std::fwrite(b.data(), 1, b.size(), out) == b.size();
  }
  ok = std::fclose(out) == 0 && ok;
  if (!ok) {
    std::fprintf(stderr, "ipfix-loadgen: --write %s: write failed\n", cfg.write_file.c_str());
    return 1;
  }
  return 0;
}

int run(const loadgen_config& cfg) {
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  auto address = asio::ip::make_address(cfg.target.host, ec);
  if (ec) {
    std::fprintf(stderr, "ipfix-loadgen: --target host '%s' is not an IP address\n",
                 cfg.target.host.c_str());
    return 2;
  }
  if (cfg.udp)
    return run_udp(cfg, address);
  tcp::endpoint target(address, cfg.target.port);
  std::unique_ptr<asio::ssl::context> tls;
  if (cfg.tls && cfg.write_file.empty() && !(tls = make_tls_context(cfg)))
    return 2;

  asio::io_context ioc(static_cast<int>(cfg.io_threads));
  run_state run;
  run.tls = tls.get();
  std::vector<std::shared_ptr<session>> sessions;
  sessions.reserve(cfg.sessions);
  for (std::uint32_t i = 0; i < cfg.sessions; ++i)
    sessions.push_back(
        std::make_shared<session>(ioc, cfg, run, cfg.odid_base + i * cfg.odid_step, target));
  if (!cfg.write_file.empty())
    return write_sessions(cfg, sessions);

  // Pre-generating takes generation off the send path, which matters when the tool
  // shares the machine with the system under test.
  // Paced runs generate as they go: their generation cost is spread over the run.
  bool pregenerated = false;
  if (cfg.records && !cfg.stamp && cfg.rate == 0 && cfg.pregen_limit > 0) {
    std::vector<std::uint8_t> sample;
    for (std::uint64_t i = 0; i < 64; ++i)
      append_record(cfg.kind, cfg.seed, cfg.odid_base, i, sample);
    auto estimate = static_cast<double>(sample.size()) / 64.0 * 1.1 *
                    static_cast<double>(*cfg.records) * cfg.sessions;
    if (estimate <= static_cast<double>(cfg.pregen_limit)) {
      auto t = steady::now();
      for (auto& s : sessions)
        s->pregenerate();
      pregenerated = true;
      if (!cfg.quiet && estimate >= 1e6)
        std::fprintf(stderr, "ipfix-loadgen: pre-generated %.1f MB in %.3f s\n", estimate / 1e6,
                     std::chrono::duration<double>(steady::now() - t).count());
    }
  }

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code e, int) {
    if (!e)
      run.stop = true;
  });
  run.start = steady::now();
  if (cfg.duration)
    run.deadline = run.start + std::chrono::duration_cast<steady::duration>(*cfg.duration);
  // The pending signal wait keeps run() going; the last session to end cancels it.
  run.active = cfg.sessions;
  if (run.tls && pregenerated)
    run.sealing = cfg.sessions;
  run.all_done = [&] { asio::post(ioc, [&] { signals.cancel(); }); };
  for (auto& s : sessions)
    s->start();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < cfg.io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();

  session_stats total;
  steady::time_point last = run.start;
  bool complete = true;
  int failures = 0, stopped = 0, no_close = 0;
  std::string first_error;
  for (auto& s : sessions) {
    auto& st = s->stats();
    total.records += st.records;
    total.messages += st.messages;
    total.bytes += st.bytes;
    last = std::max(last, st.last_write);
    complete = complete && st.complete;
    if (!st.error.empty()) {
      ++failures;
      if (first_error.empty())
        first_error = st.error;
    } else if (st.peer_closed_early) {
      ++stopped;
    }
    no_close += st.peer_close_timeout ? 1 : 0;
  }
  double seconds = std::chrono::duration<double>(last - run.start).count();
  if (!cfg.report.empty()) {
    if (auto err = write_file_atomically(cfg.report, report_json(cfg, total, seconds, complete));
        !err.empty())
      std::fprintf(stderr, "ipfix-loadgen: %s\n", err.c_str());
  }
  if (!cfg.quiet)
    std::fprintf(stderr,
                 "ipfix-loadgen: %u sessions, %llu records, %llu messages, %llu bytes in %.3f s: "
                 "%.0f records/s (%s)\n",
                 cfg.sessions, static_cast<unsigned long long>(total.records),
                 static_cast<unsigned long long>(total.messages),
                 static_cast<unsigned long long>(total.bytes), seconds,
                 seconds > 0 ? static_cast<double>(total.records) / seconds : 0.0,
                 std::string(to_string(cfg.kind)).c_str());
  if (no_close > 0)
    std::fprintf(stderr, "ipfix-loadgen: warning: %d sessions' peers did not close in time\n",
                 no_close);
  if (failures > 0) {
    std::fprintf(stderr, "ipfix-loadgen: %d of %u sessions failed; first: %s\n", failures,
                 cfg.sessions, first_error.c_str());
    return 1;
  }
  if (stopped > 0) {
    std::fprintf(stderr, "ipfix-loadgen: the peer closed %d sessions before all was sent\n",
                 stopped);
    return 3;
  }
  if (run.stop && !complete) {
    std::fprintf(stderr, "ipfix-loadgen: interrupted before all was sent\n");
    return 130;
  }
  return 0;
}

} // namespace
} // namespace fa::tools

int main(int argc, char** argv) {
  auto cfg = fa::tools::parse_args(argc, argv);
  return fa::tools::run(cfg);
}
