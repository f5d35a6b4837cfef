// tls_connection (net/tls_connection.hpp) against a real OpenSSL client on loopback: the
// client's ciphertext is made in memory and written to the socket in pieces of our
// choosing, so that records are cut anywhere, many records come in one read, and the
// stream ends with a close_notify or without one (RFC 8446 6.1). Every message must
// arrive once, in order, whatever the cuts, and the session must still tell how the
// stream ended (issue 15: the reader's batching is tuned for CPU; these hold it correct).

#include "net/tls_connection.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"
#include "test/support/process.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace fa::net {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;

const test::tls_pki& pki() {
  static test::tls_pki p{test::scratch_dir("tls_connection_pki")};
  return p;
}

/// `count` IPFIX messages (RFC 7011 3.1 header, then filler) of varied lengths, each
/// filled with its own sequence number, one after another.
bytes message_stream(std::size_t count) {
  bytes out;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t length = 16 + (i * 977) % 3000;
    auto at = out.size();
    out.resize(at + length, static_cast<std::uint8_t>(i * 31));
    ipfix::write_u16(out.data() + at, ipfix::ipfix_version);
    ipfix::write_u16(out.data() + at + 2, static_cast<std::uint16_t>(length));
    ipfix::write_u32(out.data() + at + 8, static_cast<std::uint32_t>(i));
  }
  return out;
}

/// A tls_listener on 127.0.0.1 whose sessions hand their chunks and close reason here.
class server {
 public:
  server() {
    tls_server_options o;
    o.cert = pki().server().cert;
    o.key = pki().server().key;
    auto made = tls_server_context::make(o);
    if (auto* err = std::get_if<std::string>(&made))
      throw std::runtime_error(*err);
    tls_listener_options lo;
    lo.handshake_timeout = 10s;
    tls_listener_handlers h;
    h.established = [this](tls_connection_ptr c) {
      messages::session_budgets b{std::make_shared<messages::byte_budget>(1 << 24), nullptr};
      c->start(
          b,
          [this](messages::chunk_ptr chunk) {
            std::lock_guard lock{mtx_};
            auto data = chunk->bytes();
            received_.insert(received_.end(), data.begin(), data.end());
            ++chunks_;
            cv_.notify_all();
          },
          [this](const std::string& reason) {
            std::lock_guard lock{mtx_};
            closed_ = reason;
            cv_.notify_all();
          });
    };
    h.failed = [this](std::string_view reason, const tls_connection&, const std::string&) {
      std::lock_guard lock{mtx_};
      failed_ = std::string{reason};
      cv_.notify_all();
    };
    listener_ = std::make_shared<tls_listener>(
        io_, asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), 0},
        std::get<tls_server_context_ptr>(made), lo, h);
    listener_->start();
    thread_ = std::thread{[this] { io_.run(); }};
  }
  ~server() {
    listener_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return listener_->port(); }

  /// Waits (bounded) until `n` octets have arrived; returns what has.
  bytes wait_received(std::size_t n) {
    std::unique_lock lock{mtx_};
    cv_.wait_for(lock, 20s, [&] { return received_.size() >= n || closed_; });
    return received_;
  }
  std::optional<std::string> wait_closed() {
    std::unique_lock lock{mtx_};
    cv_.wait_for(lock, 20s, [&] { return closed_.has_value(); });
    return closed_;
  }
  std::optional<std::string> wait_failed() {
    std::unique_lock lock{mtx_};
    cv_.wait_for(lock, 20s, [&] { return failed_.has_value(); });
    return failed_;
  }
  std::size_t chunks() {
    std::lock_guard lock{mtx_};
    return chunks_;
  }

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      io_.get_executor()};
  tls_listener_ptr listener_;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bytes received_;
  std::size_t chunks_ = 0;
  std::optional<std::string> closed_;
  std::optional<std::string> failed_;
};

/// A TLS client on a blocking socket that seals its records into memory, to be written
/// to the socket raw, in pieces, by the test.
class client {
 public:
  explicit client(std::uint16_t port, std::size_t record_size = 16384)
      : ctx_(SSL_CTX_new(TLS_client_method())) {
    asio::connect(socket_,
                  std::vector{asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), port}});
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr); // the server's checks are not tested here
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, socket_.native_handle());
    SSL_set_max_send_fragment(ssl_, record_size);
    ok_ = SSL_connect(ssl_) == 1;
    mem_ = BIO_new(BIO_s_mem());
    sock_ = SSL_get_wbio(ssl_);
    BIO_up_ref(sock_);
    SSL_set0_wbio(ssl_, mem_);
  }
  ~client() {
    SSL_set0_wbio(ssl_, sock_); // takes back the reference taken above; frees mem_
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return ok_; }

  /// The ciphertext of `plain`, cut into records of at most `record_size` octets.
  bytes seal(const bytes& plain) {
    std::size_t done = 0;
    while (done < plain.size()) {
      std::size_t w = 0;
      if (SSL_write_ex(ssl_, plain.data() + done, plain.size() - done, &w) != 1)
        return {};
      done += w;
    }
    return drain();
  }
  bytes close_notify() {
    SSL_shutdown(ssl_);
    return drain();
  }
  void send(const std::uint8_t* p, std::size_t n) { asio::write(socket_, asio::buffer(p, n)); }
  void end() { socket_.shutdown(asio::socket_base::shutdown_send); }

 private:
  bytes drain() {
    bytes out(static_cast<std::size_t>(BIO_pending(mem_)));
    BIO_read(mem_, out.data(), static_cast<int>(out.size()));
    return out;
  }
  asio::io_context io_;
  asio::ip::tcp::socket socket_{io_};
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  BIO* mem_ = nullptr;
  BIO* sock_ = nullptr;
  bool ok_ = false;
};

// Many small records sent at once are read a socketful at a time, not a record per
// read: every message arrives once, in order, in few chunks; the close_notify after
// them ends the session cleanly.
TEST(tls_connection, many_records_in_one_read_arrive_in_order) {
  server s;
  client c{s.port(), 512};
  ASSERT_TRUE(c.connected());
  auto plain = message_stream(400); // about 600 KB in about 1,200 records
  auto sealed = c.seal(plain);
  auto bye = c.close_notify();
  sealed.insert(sealed.end(), bye.begin(), bye.end());
  c.send(sealed.data(), sealed.size());
  EXPECT_EQ(s.wait_received(plain.size()), plain);
  EXPECT_EQ(s.wait_closed(), "eof");
  EXPECT_LT(s.chunks(), plain.size() / 512 / 4) << "records were handed on one by one";
}

// Ciphertext cut at every kind of place (inside a record header, inside a record, just
// after one), each piece sent only once everything before it was delivered: the whole
// records a piece completes are delivered without waiting for more input (a record held
// whole by OpenSSL must not wait on the socket), and the part of a record that stays
// behind is completed by the next piece.
TEST(tls_connection, records_cut_anywhere_are_delivered_as_they_complete) {
  server s;
  client c{s.port(), 4096};
  ASSERT_TRUE(c.connected());
  auto plain = message_stream(60);
  // One record per message, so that a piece's whole records are whole messages.
  bytes sealed;
  std::vector<std::pair<std::size_t, std::size_t>> ends; // (ciphertext end, plaintext end)
  std::size_t at = 0;
  while (at < plain.size()) {
    std::size_t len = ipfix::read_u16(plain.data() + at + 2);
    auto r = c.seal(bytes(plain.begin() + at, plain.begin() + at + len));
    sealed.insert(sealed.end(), r.begin(), r.end());
    at += len;
    ends.emplace_back(sealed.size(), at);
  }
  std::size_t sent = 0;
  for (std::size_t i = 0; i < ends.size(); i += 3) {
    // Up to three records and a cut 3 octets into the next record's header (or into its
    // body), so that OpenSSL holds part of a record when the piece is used up.
    std::size_t cut = std::min(ends[i].first + (i % 2 ? 3 : 40), sealed.size());
    c.send(sealed.data() + sent, cut - sent);
    sent = cut;
    std::size_t whole = 0;
    for (auto& [e, p] : ends)
      if (e <= sent)
        whole = p;
    auto got = s.wait_received(whole);
    ASSERT_EQ(got.size(), whole) << "piece " << i;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), plain.begin()));
  }
  c.send(sealed.data() + sent, sealed.size() - sent);
  EXPECT_EQ(s.wait_received(plain.size()), plain);
  auto bye = c.close_notify();
  c.send(bye.data(), bye.size());
  EXPECT_EQ(s.wait_closed(), "eof");
}

// A TCP end without close_notify is told from a clean close (RFC 8446 6.1: later data
// may have been cut off), after whole records or inside one: the messages of the whole
// records still count, the part of a record that came is not delivered.
TEST(tls_connection, an_end_without_close_notify_is_reported) {
  for (bool inside_a_record : {false, true}) {
    server s;
    client c{s.port()};
    ASSERT_TRUE(c.connected());
    auto plain = message_stream(20);
    auto sealed = c.seal(plain);
    if (inside_a_record) {
      auto more = c.seal(message_stream(3));
      sealed.insert(sealed.end(), more.begin(), more.begin() + static_cast<long>(more.size() / 2));
    }
    c.send(sealed.data(), sealed.size());
    c.end();
    EXPECT_EQ(s.wait_closed(), "eof_without_close_notify") << inside_a_record;
    EXPECT_EQ(s.wait_received(plain.size()), plain) << inside_a_record;
  }
}

// A peer that speaks no TLS fails its handshake, reported with its reason.
TEST(tls_connection, a_plain_tcp_peer_fails_the_handshake) {
  server s;
  asio::io_context io;
  asio::ip::tcp::socket sock{io};
  asio::connect(sock,
                std::vector{asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), s.port()}});
  auto plain = message_stream(3);
  asio::write(sock, asio::buffer(plain));
  EXPECT_EQ(s.wait_failed(), "not_tls");
}

} // namespace
} // namespace fa::net
