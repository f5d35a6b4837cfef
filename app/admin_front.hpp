#pragma once

// The admin port's front door (issue 16, defect 3). civetweb gives each connection a
// worker thread from the moment it is accepted until it closes, so a few clients that
// connect and send nothing (or a header line every few seconds) hold every worker, and
// the probes behind them time out: the kubelet restarts a healthy pod. The front takes
// that job off civetweb: it accepts on asio (an idle connection costs a socket, no
// thread), does the TLS handshake when the port serves HTTPS, reads the request head
// under one deadline, and only then relays the connection as plain HTTP to civetweb on a
// loopback port of its own. civetweb's workers therefore only ever see complete GET
// requests: the front answers every other method with 405 itself.
//
// Bounds: at most `max_connections` open at once, and when that is reached the oldest
// connection that has not sent its request head yet is closed to make room (so idle
// clients push out each other, never a probe that sends its request at once); requests
// other than the probe paths may occupy at most `max_busy` civetweb workers at a time
// (more get 503), so the probes always find one free.

#include "net/tls_context.hpp"

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fa::app {

struct admin_front_options {
  asio::ip::tcp::endpoint listen;
  /// Set: serve HTTPS (the handshake is part of the head deadline); null: plain HTTP.
  net::ssl_context_ptr tls;
  /// civetweb's port on 127.0.0.1.
  std::uint16_t backend_port = 0;
  /// Paths with a lane of their own (the probes and the scrape): never counted as busy.
  std::vector<std::string> probe_paths{"/healthz", "/readyz", "/metrics"};
  std::size_t max_connections = 64;
  /// Other requests at civetweb at once; keep it below civetweb's worker count.
  std::size_t max_busy = 6;
  /// From accept to the end of the request head (TLS handshake included).
  std::chrono::milliseconds head_timeout{10000};
  /// From the end of the head to the end of the answer (a slow reader is cut off).
  std::chrono::milliseconds exchange_timeout{60000};
  std::size_t max_head = 8192;
  /// Called on the front's thread for every connection it closes early, with the reason:
  /// "head_timeout", "tls_handshake", "evicted", "full", "head_too_large", "bad_request",
  /// "busy", "exchange_timeout".
  std::function<void(std::string_view reason)> on_closed;
};

class admin_front {
 public:
  /// Binds and starts serving on a thread of its own; throws std::system_error when the
  /// address cannot be bound.
  explicit admin_front(admin_front_options opts);
  ~admin_front();
  admin_front(const admin_front&) = delete;
  admin_front& operator=(const admin_front&) = delete;

  /// The bound port (port 0 resolved).
  std::uint16_t port() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
};

/// The request line of an HTTP request head (RFC 9112 3).
struct request_line {
  bool valid = false; ///< "METHOD SP TARGET SP HTTP/..."
  std::string_view method;
  std::string_view path; ///< the target without its query
};

/// "GET /healthz?x HTTP/1.1\r\n..." -> {true, "GET", "/healthz"}.
request_line parse_request_line(std::string_view head);

} // namespace fa::app
