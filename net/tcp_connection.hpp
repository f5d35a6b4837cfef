#pragma once

// One accepted exporter connection: reads, frames whole IPFIX messages into shared
// chunks and hands them to its session through a callback. Reads only what the socket
// holds (so an idle session pins no buffer but the start of a message it has not
// finished, charged to its budgets: net/frame_buffer.hpp) and pauses when the session's
// or the process's budget is spent, which pushes back on the exporter over TCP
// (DESIGN 3). A message that stays incomplete for `message_timeout`, or a session that
// completes none in time, is closed (net/session_deadline.hpp).

#include "messages/chunk.hpp"
#include "net/accept_backoff.hpp"
#include "net/frame_buffer.hpp"
#include "net/inbound.hpp"
#include "net/listener.hpp"
#include "net/session_deadline.hpp"

#include <asio.hpp>

#include <chrono>
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
                 std::size_t max_read, std::size_t max_message_size,
                 session_timeouts timeouts = {});

  /// Starts reading. Handlers run on the connection's strand; `closed` runs exactly once.
  void start(frames_handler on_frames, closed_handler on_closed);

  /// Closes the connection from any thread; `closed` is called with `reason`.
  void close(std::string reason) override;

  asio::ip::tcp::endpoint remote() const { return remote_; }

 private:
  void wait_readable();
  void read_available(bool may_allocate);
  void resume_reading();
  void finish(std::string reason);

  asio::ip::tcp::socket socket_;
  asio::strand<asio::any_io_executor> strand_;
  messages::session_budgets budgets_;
  std::size_t max_read_;
  asio::ip::tcp::endpoint remote_;
  frame_buffer frames_;
  session_deadline deadline_;
  frames_handler on_frames_;
  closed_handler on_closed_;
  bool closed_ = false;
};

using tcp_connection_ptr = std::shared_ptr<tcp_connection>;

/// Accepts connections and hands each socket to `on_accept` (on an io thread). A failed
/// accept is reported to `on_error` and, at the open-file limit or short of memory,
/// retried after a growing pause instead of at once (net/accept_backoff.hpp).
class tcp_listener : public listener {
 public:
  using accept_handler = std::function<void(asio::ip::tcp::socket)>;

  tcp_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep, accept_handler h,
               accept_error_handler on_error = {});

  /// The bound port (useful with port 0).
  std::uint16_t port() const override { return port_; }
  asio::ip::address address() const override { return local_.address(); }
  asio::ip::tcp::endpoint local() const { return local_; }

  /// Stops accepting; established connections are not touched.
  void stop() override;

 private:
  void accept_next();

  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  accept_handler on_accept_;
  accept_error_handler on_error_;
  accept_backoff backoff_;
  asio::ip::tcp::endpoint local_;
  std::uint16_t port_ = 0;
};

} // namespace fa::net
