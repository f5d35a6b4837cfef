#pragma once

// One accepted exporter connection: reads, frames whole IPFIX messages into shared
// chunks and hands them to its session through a callback. Reads only what the socket
// holds (so an idle session pins no buffer) and pauses when the session's budget is
// spent, which pushes back on the exporter over TCP (DESIGN 3).

#include "messages/chunk.hpp"
#include "net/inbound.hpp"
#include "net/listener.hpp"

#include <asio.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fa::net {

class tcp_connection : public inbound, public std::enable_shared_from_this<tcp_connection> {
 public:
  using frames_handler = std::function<void(messages::chunk_ptr)>;
  using closed_handler = std::function<void(const std::string& reason)>;

  tcp_connection(asio::ip::tcp::socket socket, messages::session_budgets budgets,
                 std::size_t max_read, std::size_t max_message_size);

  /// Starts reading. Handlers run on the connection's strand; `closed` runs exactly once.
  void start(frames_handler on_frames, closed_handler on_closed);

  /// Closes the connection from any thread; `closed` is called with `reason`.
  void close(std::string reason) override;

  asio::ip::tcp::endpoint remote() const { return remote_; }

 private:
  void wait_readable();
  void read_available();
  void resume_reading();
  void finish(std::string reason);

  asio::ip::tcp::socket socket_;
  asio::strand<asio::any_io_executor> strand_;
  messages::session_budgets budgets_;
  std::size_t max_read_;
  std::size_t max_message_size_;
  asio::ip::tcp::endpoint remote_;
  std::vector<std::uint8_t> tail_; ///< start of a message not yet complete
  frames_handler on_frames_;
  closed_handler on_closed_;
  bool closed_ = false;
};

using tcp_connection_ptr = std::shared_ptr<tcp_connection>;

/// Accepts connections and hands each socket to `on_accept` (on an io thread).
class tcp_listener : public listener {
 public:
  using accept_handler = std::function<void(asio::ip::tcp::socket)>;

  tcp_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep, accept_handler h);

  /// The bound port (useful with port 0).
  std::uint16_t port() const override { return port_; }
  asio::ip::address address() const override { return local_.address(); }
  asio::ip::tcp::endpoint local() const { return local_; }

  /// Stops accepting; established connections are not touched.
  void stop() override;

 private:
  void accept_next();

  asio::ip::tcp::acceptor acceptor_;
  accept_handler on_accept_;
  asio::ip::tcp::endpoint local_;
  std::uint16_t port_ = 0;
};

} // namespace fa::net
