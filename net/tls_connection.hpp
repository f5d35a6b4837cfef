#pragma once

// IPFIX over TLS, collecting side (RFC 7011 10.4.2 and 11): the exporter is the TLS
// client. A connection first completes its handshake within a deadline, then reads and
// frames whole messages like a TCP connection (net/tcp_connection.hpp): it reads what is
// there, pauses when its session's budget is spent (backpressure, DESIGN 3), pins no
// buffer while idle but the start of an unfinished message (charged to its budgets), and
// closes the session when a message stays incomplete for `message_timeout`, or none
// comes in time (net/session_deadline.hpp).
//
// OpenSSL works on the socket itself (SSL_set_fd, non-blocking, driven by the reactor's
// readiness waits), not through asio::ssl::stream's memory BIO pair: the pair costs a
// system call per 17 KiB and two more copies of every octet, which made TLS in cost
// about twice TCP in. With read-ahead OpenSSL reads up to 64 KiB of records per call
// and decrypts straight into the session's chunk. OpenSSL keeps that read buffer for
// the session's life (asio's stream kept about 51 KiB of its own buffers too); the
// session's chunks, as over TCP, are not kept while it is idle.

#include "messages/chunk.hpp"
#include "net/accept_backoff.hpp"
#include "net/frame_buffer.hpp"
#include "net/inbound.hpp"
#include "net/listener.hpp"
#include "net/session_deadline.hpp"
#include "net/tls_context.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fa::net {

class tls_connection : public inbound, public std::enable_shared_from_this<tls_connection> {
 public:
  using frames_handler = std::function<void(messages::chunk_ptr)>;
  using closed_handler = std::function<void(const std::string& reason)>;
  /// `failure` is empty on success, else a reason from `handshake_failure_reason`
  /// ("aborted" when the connection was closed from outside).
  using handshake_handler =
      std::function<void(std::string_view failure, const std::string& detail)>;

  /// `socket` should run on its own strand (the listener accepts it on one): every
  /// handler of this connection runs there.
  tls_connection(asio::ip::tcp::socket socket, ssl_context_ptr ctx, std::size_t max_read,
                 std::size_t max_message_size, session_timeouts timeouts = {});

  /// Runs the server handshake; `done` is called once, on the connection's strand.
  void handshake(std::chrono::milliseconds timeout, handshake_handler done);

  /// After a successful handshake: reads into chunks charged to `budgets`. Handlers run
  /// on the connection's strand; `closed` runs exactly once.
  void start(messages::session_budgets budgets, frames_handler on_frames, closed_handler on_closed);

  /// Closes from any thread: during the handshake it fails with "aborted"; afterwards
  /// `closed` is called with `reason`.
  void close(std::string reason) override;

  asio::ip::tcp::endpoint remote() const { return remote_; }
  /// The peer certificate's names (CN, DNS SANs), for logs; empty without one.
  std::string peer_names() const;

 private:
  void handshake_step();
  void handshake_done(const asio::error_code& ec);
  void wait_readable();
  void resume_reading();
  void read_available(bool may_allocate);
  void finish(std::string reason);

  ssl_context_ptr ctx_; ///< this connection's context, kept across a reload
  asio::ip::tcp::socket socket_;
  struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL, ssl_free> ssl_; ///< on `socket_`'s descriptor (closed by the socket)
  asio::any_io_executor strand_;
  asio::steady_timer timer_;
  messages::session_budgets budgets_;
  std::size_t max_read_;
  asio::ip::tcp::endpoint remote_;
  frame_buffer frames_;
  session_deadline deadline_;
  handshake_handler on_handshake_;
  frames_handler on_frames_;
  closed_handler on_closed_;
  bool ssl_may_hold_buffer_ = true; ///< the last read stopped before OpenSSL was drained
  bool handshaking_ = false;
  bool established_ = false;
  bool timed_out_ = false;
  bool closed_ = false;
};

using tls_connection_ptr = std::shared_ptr<tls_connection>;

struct tls_listener_options {
  std::uint32_t max_handshakes = 64;
  std::chrono::milliseconds handshake_timeout{10000};
  std::size_t max_read = 256 * 1024;
  std::size_t max_message_size = 65535;
  /// The message, first-message and idle deadlines of a session (net/session_deadline.hpp).
  session_timeouts timeouts;
};

struct tls_listener_handlers {
  /// A handshake succeeded: the connection waits for `start` (or `close`).
  std::function<void(tls_connection_ptr)> established;
  /// A handshake failed (never called for "aborted": the listener was stopped).
  std::function<void(std::string_view reason, const tls_connection&, const std::string& detail)>
      failed;
  /// +1 when a handshake starts, -1 when it ends (a gauge over every listener).
  std::function<void(int)> in_progress;
  /// A failed accept (net/accept_backoff.hpp), with the pause before the next one.
  accept_error_handler accept_failed;
};

/// Accepts exporters and runs their handshakes, at most `max_handshakes` at once: while
/// that many are in progress it accepts nothing, and further connections wait in the
/// kernel's accept queue, so a flood of slow handshakes costs bounded memory and CPU.
class tls_listener : public listener, public std::enable_shared_from_this<tls_listener> {
 public:
  tls_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep, tls_server_context_ptr tls,
               tls_listener_options options, tls_listener_handlers handlers);

  /// Starts accepting (separate from construction: it needs `shared_from_this`).
  void start();

  std::uint16_t port() const override { return port_; }
  asio::ip::address address() const override { return local_.address(); }

  /// Stops accepting and aborts the handshakes in progress; established sessions are
  /// not touched.
  void stop() override;

 private:
  void accept_next();
  void accepted(asio::ip::tcp::socket socket);
  void handshake_finished(const tls_connection* c);

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  tls_server_context_ptr tls_;
  tls_listener_options options_;
  tls_listener_handlers handlers_;
  asio::ip::tcp::endpoint local_;
  std::uint16_t port_ = 0;
  std::unordered_map<const tls_connection*, std::weak_ptr<tls_connection>> handshaking_;
  accept_backoff backoff_;
  bool accepting_ = false;
  std::atomic<bool> stopped_{false};
};

using tls_listener_ptr = std::shared_ptr<tls_listener>;

} // namespace fa::net
