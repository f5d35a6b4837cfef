#pragma once

// IPFIX over TLS to one collector (RFC 7011 10.4.2 and 11): the `client` for ipfix+tls.
// As tcp_client, plus a TLS handshake that verifies the collector's certificate against
// the configured CA and server name (and presents ours for mutual authentication).
// Every connection attempt builds a fresh TLS stream, so a reconnect starts clean.

#include "net/client.hpp"
#include "net/tls_context.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fa::net {

class tls_client : public client, public std::enable_shared_from_this<tls_client> {
 public:
  using handlers = client_handlers;
  /// A failed handshake: a reason from `handshake_failure_reason` and the detail.
  using failure_handler = std::function<void(std::string_view reason, const std::string& detail)>;

  /// `server_name` is verified against the collector's certificate and sent as SNI.
  /// `connect_timeout` bounds the TCP connect and the handshake together.
  tls_client(asio::io_context& ctx, ssl_context_ptr tls, std::string host, std::uint16_t port,
             std::string server_name, handlers h, failure_handler on_failure = {},
             std::chrono::milliseconds connect_timeout = std::chrono::seconds{10});

  void connect(std::uint64_t gen) override;
  void write(std::uint64_t gen, std::shared_ptr<write_job> job) override;
  /// Sends close_notify after pending writes (RFC 8446 6.1), then waits for the peer.
  void shutdown(std::uint64_t gen) override;
  void stop() override;

 private:
  using stream_type = asio::ssl::stream<asio::ip::tcp::socket>;

  void handshake(std::uint64_t gen);
  void fail(std::uint64_t gen, const std::string& reason);
  void end(std::uint64_t gen, disconnect_info info);
  void peer_closed(std::uint64_t gen);
  /// Ciphertext octets the collector's TCP has not acknowledged (SIOCOUTQ).
  std::size_t unacked() const;
  void watch_peer(std::uint64_t gen);
  void close_stream();

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer timer_;
  ssl_context_ptr tls_;
  /// One per connection attempt; handlers hold it too, so an old stream outlives its
  /// cancelled operations.
  std::shared_ptr<stream_type> stream_;
  /// Plaintext of the write in flight: a gather list of small buffers would become one
  /// TLS record (and one system call) each, so they are joined first. Encryption copies
  /// every octet anyway; this buffer is reused.
  std::vector<std::uint8_t> staging_;
  std::string host_;
  std::uint16_t port_;
  std::string server_name_;
  handlers h_;
  failure_handler on_failure_;
  std::chrono::milliseconds connect_timeout_;
  std::uint64_t gen_ = 0;
  bool up_ = false;
  bool writing_ = false;
  bool peer_closed_ = false;
  bool handshaking_ = false;
  bool shutdown_pending_ = false;
  bool closing_ = false; ///< the collector closed, our FIN sent: waiting for its last ACKs
  bool stopped_ = false;
  std::array<std::uint8_t, 512> discard_{};
};

using tls_client_ptr = std::shared_ptr<tls_client>;

} // namespace fa::net
