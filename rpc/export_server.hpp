#pragma once

// The gRPC collector (antrea-grpc-transport.md 1 and 4): Antrea's FlowExportService on a
// grpc:// or grpcs:// listener. Each client stream (an Agent keeps one open for good) is
// an agent session like a TCP connection: its Flows are written as IPFIX messages of the
// agent's record shape into budgeted chunks (rpc/flow_writer.hpp) and handed to the
// session with the same callbacks as a TCP read.
//
// One thread drives a completion queue (gRPC's async API). It reads what has arrived,
// stream by stream, and hands each stream's chunk on once nothing more is ready, which
// batches an Agent's one-Flow requests the way a TCP read batches messages. A stream
// whose session or process budget is spent has no read pending, so gRPC's HTTP/2 flow
// control pushes back on the Agent (DESIGN 3); the budget's release wakes the thread.

#include "messages/chunk.hpp"
#include "net/inbound.hpp"
#include "net/listener.hpp"
#include "rpc/flow_writer.hpp"

#include <grpcpp/security/server_credentials.h>

#include <asio/ip/address.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fa::rpc {

/// What the owner gives an admitted stream: where its chunks go and who learns its end.
struct export_session {
  messages::session_budgets budgets;
  std::function<void(messages::chunk_ptr)> on_frames;
  /// Called exactly once, after the last chunk, from the server thread.
  std::function<void(const std::string& reason)> on_closed;
};

struct export_server_options {
  std::string host = "0.0.0.0"; ///< an address, "::" for all families
  std::uint16_t port = 14739;   ///< 0 = ephemeral
  /// Insecure for grpc://; TLS (rpc/server_tls.hpp) for grpcs://.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  bool tls = false;
  std::vector<std::string> allowed_names; ///< grpcs:// with a client CA: RFC 7011 11.4
  /// The largest ExportRequest accepted; a larger one ends its stream with
  /// RESOURCE_EXHAUSTED (grpc-go's default, which Antrea's aggregator keeps, is 4 MiB).
  std::size_t max_message_size = 4 * 1024 * 1024;
  /// HTTP/2 keepalive pings: a peer that does not answer within the timeout is gone and
  /// its stream ends (an Agent never half-closes; a dead one must not hold a session).
  std::chrono::milliseconds keepalive_time{std::chrono::seconds{30}};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds{20}};
  /// Records carry the Flow's UIDs as the nine UUID elements (Antrea's includeK8sUIDs,
  /// off by default as there: antrea-aggregate-semantics.md f.2).
  bool include_k8s_uids = false;
};

struct export_server_handlers {
  /// A stream from `address`:`port` opened: its session, or nullopt to refuse it
  /// (answered RESOURCE_EXHAUSTED). `in` closes the stream from any thread.
  std::function<std::optional<export_session>(const asio::ip::address& address, std::uint16_t port,
                                              net::inbound_ptr in)>
      open;
  /// A stream refused before it became a session ("name_not_allowed", "bad_peer",
  /// "shutdown"), with the peer text and detail.
  std::function<void(std::string_view reason, const std::string& peer, const std::string& detail)>
      refused;
  /// Flows refused in one request, by reason (never per accepted Flow).
  std::function<void(flow_error reason, std::uint64_t count, const std::string& peer)> rejected;
  /// ExportRequests and Flows received in one round of a stream (for the request counter).
  std::function<void(std::uint64_t requests, std::uint64_t flows)> received;
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

/// "ipv4:10.0.0.1:5000", "ipv6:[fd00::1]:5000" or "ipv6:%5Bfd00::1%5D:5000" (gRPC's peer
/// URI) into an address and port; false for anything else (a unix socket, say).
bool parse_peer(std::string_view peer, asio::ip::address& address, std::uint16_t& port);

} // namespace fa::rpc
