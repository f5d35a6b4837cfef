#pragma once

// IPFIX over TCP to one collector (RFC 7011 10.4): the `client` for ipfix+tcp.

#include "net/client.hpp"

#include <asio.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fa::net {

class tcp_client : public client, public std::enable_shared_from_this<tcp_client> {
 public:
  using handlers = client_handlers;

  tcp_client(asio::io_context& ctx, std::string host, std::uint16_t port, handlers h,
             std::chrono::milliseconds connect_timeout = std::chrono::seconds{10});

  /// Starts connection attempt `gen` (closing any previous connection).
  void connect(std::uint64_t gen) override;

  /// Writes all of `job` on connection `gen`. One write at a time: the caller waits for
  /// `written` before the next. A write that fails reports `disconnected` instead.
  void write(std::uint64_t gen, std::shared_ptr<write_job> job) override;

  /// Half-closes after pending writes (the peer reads to the end), then closes.
  void shutdown(std::uint64_t gen) override;

  /// Closes at once, no callbacks.
  void stop() override;

 private:
  void fail(std::uint64_t gen, const std::string& reason);
  void end(std::uint64_t gen, disconnect_info info);
  void peer_closed(std::uint64_t gen);
  void watch_peer(std::uint64_t gen);
  void close_socket();

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::string host_;
  std::uint16_t port_;
  handlers h_;
  std::chrono::milliseconds connect_timeout_;
  std::uint64_t gen_ = 0;
  bool up_ = false;
  bool writing_ = false;
  bool peer_closed_ = false; ///< the collector half-closed: finish the write, then close
  bool closing_ = false;     ///< both FINs sent: waiting for the collector's last ACKs
  bool stopped_ = false;
  std::array<std::uint8_t, 512> discard_{};
};

using tcp_client_ptr = std::shared_ptr<tcp_client>;

} // namespace fa::net
