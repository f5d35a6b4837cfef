#pragma once

// Antrea's FlowStreamService (antrea-grpc-transport.md 5): GetFlows, server-streaming,
// served from a ring of the records the destination received (the same enriched records
// every other destination gets). Each subscriber has its own cursor into the ring,
// starting at the oldest record kept (history first); the ring overwrites the oldest, so
// a subscriber that falls behind more than the ring holds misses records, which are
// counted for it (GetFlowsResponse.dropped_count, and a metric per subscriber). A slow
// subscriber therefore never stalls the pipeline: publishing only copies records into
// the ring.
//
// Records become Flows (rpc/flow_decoder.hpp) on the server thread, per subscriber read
// of up to 100 records, and are filtered there (rpc/flow_filter.hpp).

#include "messages/batches.hpp"
#include "monitoring/grpc_metrics.hpp"

#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace fa::rpc {

struct stream_server_options {
  std::string name; ///< the destination's name (logs)
  std::string host = "0.0.0.0";
  std::uint16_t port = 14740;                           ///< 0 = ephemeral
  std::shared_ptr<grpc::ServerCredentials> credentials; ///< null = plaintext
  std::size_t buffer = 8192; ///< records kept (Antrea's recordBufferSize)
  std::size_t max_subscribers = 16;
  std::size_t batch = 100; ///< flows per response (Antrea's internal batch size)
  monitoring::flow_stream_metrics* metrics = nullptr;
};

/// What the server reports to its destination's status.
struct stream_server_status {
  std::uint64_t published = 0;   ///< records taken into the ring
  std::uint64_t buffered = 0;    ///< records in the ring now
  std::uint64_t subscribers = 0; ///< connected now
  std::uint64_t subscribed = 0;  ///< ever accepted
  std::uint64_t flows_sent = 0;
  std::uint64_t responses_sent = 0;
  std::uint64_t missed = 0; ///< records subscribers missed, all of them
};

class stream_server {
 public:
  static std::variant<std::shared_ptr<stream_server>, std::string> start(stream_server_options o);
  ~stream_server();

  std::uint16_t port() const { return port_; }

  /// From the destination actor: copies the payload's records into the ring (one lock
  /// per payload) and wakes the subscribers waiting for more.
  void publish(const messages::enriched_payload& p);

  stream_server_status status() const;

  class core;

 private:
  stream_server() = default;
  std::shared_ptr<core> core_;
  std::uint16_t port_ = 0;
};

} // namespace fa::rpc
