#pragma once

// The downstream connection of one exporter session. Every call is thread-safe and
// posts to the connection's strand; results come back through callbacks, which the
// exporter turns into actor messages. Each connection attempt has a generation number
// so late callbacks of an old connection are recognised and ignored.

#include <asio.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fa::net {

/// One gather write: the buffers and whatever keeps their memory alive until the write
/// completes (DESIGN 2: bodies are written with scatter/gather, never copied again).
struct write_job {
  std::vector<asio::const_buffer> buffers;
  std::shared_ptr<const void> keepalive;
  std::size_t size() const { return asio::buffer_size(buffers); }
};

class tcp_client : public std::enable_shared_from_this<tcp_client> {
 public:
  struct handlers {
    std::function<void(std::uint64_t gen)> connected;
    std::function<void(std::uint64_t gen, std::string reason)> disconnected;
    std::function<void(std::uint64_t gen, std::size_t bytes)> written;
  };

  tcp_client(asio::io_context& ctx, std::string host, std::uint16_t port, handlers h,
             std::chrono::milliseconds connect_timeout = std::chrono::seconds{10});

  /// Starts connection attempt `gen` (closing any previous connection).
  void connect(std::uint64_t gen);

  /// Writes all of `job` on connection `gen`. One write at a time: the caller waits for
  /// `written` before the next. A write that fails reports `disconnected` instead.
  void write(std::uint64_t gen, std::shared_ptr<write_job> job);

  /// Half-closes after pending writes (the peer reads to the end), then closes.
  void shutdown(std::uint64_t gen);

  /// Closes at once, no callbacks.
  void stop();

 private:
  void fail(std::uint64_t gen, const std::string& reason);
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
  bool stopped_ = false;
  std::array<std::uint8_t, 512> discard_{};
};

using tcp_client_ptr = std::shared_ptr<tcp_client>;

} // namespace fa::net
