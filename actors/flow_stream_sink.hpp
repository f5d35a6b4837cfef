#pragma once

// The flow stream destination ("grpc-stream://ADDRESS:PORT", "grpcs-stream://..."):
// serves Antrea's FlowStreamService (antrea-grpc-transport.md 5) to subscribers from a
// ring of the records it receives (rpc/stream_server.hpp). Publishing copies records into
// the ring and never waits for a subscriber, so the destination never holds back the
// pipeline; a subscriber too slow for the ring misses records, counted for it.

#include "actors/interfaces.hpp"
#include "monitoring/grpc_metrics.hpp"
#include "monitoring/metrics.hpp"
#include "rpc/stream_server.hpp"

#include <memory>
#include <string>

namespace fa::actors {

struct flow_stream_sink_config {
  std::string name;
  std::string url;
  std::shared_ptr<rpc::stream_server> server; ///< started (bound) by the caller
  std::shared_ptr<monitoring::flow_stream_metrics> stream_metrics;
  monitoring::metrics* metrics = nullptr;
};

struct flow_stream_sink_state {
  flow_stream_sink_state() = default;
  flow_stream_sink_config cfg;
  messages::destination_status status;
  monitoring::destination_metrics metrics;
  static inline const char* name = "flow_stream_sink";
};

destination_actor::behavior_type
flow_stream_sink(destination_actor::stateful_pointer<flow_stream_sink_state> self,
                 flow_stream_sink_config cfg);

} // namespace fa::actors
