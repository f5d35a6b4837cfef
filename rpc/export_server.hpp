#pragma once

// The gRPC collector (antrea-grpc-transport.md 1 and 4): Antrea's FlowExportService on a
// grpc:// or grpcs:// listener. Each client stream (an Agent keeps one open for good) is
// an agent session like a TCP connection: its Flows are written as IPFIX messages of the
// agent's record shape into budgeted chunks (rpc/flow_writer.hpp) and handed to the
// session with the same callbacks as a TCP read.
//
// We read gRPC ourselves, over Asio like the TCP reader: libgrpc cost 3 to 3.6 times our
// whole IPFIX path per message (README, "gRPC in vs IPFIX over TCP in"). One thread runs
// the listener's connections; each read is handed to libnghttp2 (rpc/export_connection.hpp),
// and each stream's chunk goes on once the read is converted, which batches an Agent's
// one-Flow requests the way a TCP read batches messages. A stream whose session or
// process budget is spent gets no WINDOW_UPDATE, so HTTP/2 flow control pushes back on
// the Agent (DESIGN 3); the budget's release wakes the thread.

#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "rpc/export_connection.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace fa::rpc {

struct export_server_options {
  std::string host = "0.0.0.0"; ///< an address, "::" for all families
  std::uint16_t port = 14739;   ///< 0 = ephemeral
  /// grpcs://: the server context (net/tls_context.hpp, built without an allow-list: a
  /// name not allowed is answered PERMISSION_DENIED per stream, as gRPC servers do).
  /// ALPN "h2" is added here (RFC 9113 3.2: gRPC clients require it). Null: grpc://.
  net::ssl_context_ptr tls;
  std::vector<std::string> allowed_names; ///< grpcs:// with a client CA: RFC 7011 11.4
  export_limits limits;
  /// HTTP/2 keepalive pings: a peer that does not answer within the timeout is gone and
  /// its stream ends (an Agent never half-closes; a dead one must not hold a session).
  std::chrono::milliseconds keepalive_time{std::chrono::seconds{30}};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds{20}};
  /// A TLS handshake must end within this.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds{10}};
};

class export_server : public net::listener {
 public:
  /// Binds and starts the server thread, or says why it cannot (a port in use).
  static std::variant<std::shared_ptr<export_server>, std::string> start(export_server_options o,
                                                                         export_server_handlers h);

  ~export_server() override;

  asio::ip::address address() const override { return address_; }
  std::uint16_t port() const override { return port_; }
  /// Refuses new streams (UNAVAILABLE); open ones go on until their sessions close.
  void stop() override;

  class core;

 private:
  export_server() = default;
  std::shared_ptr<core> core_;
  asio::ip::address address_;
  std::uint16_t port_ = 0;
};

} // namespace fa::rpc
