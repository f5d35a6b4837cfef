#pragma once

// Metrics of the gRPC side: the FlowExportService listeners (grpc://, grpcs://) and the
// flow stream destinations. Their families live in the same registry as the others
// (prometheus-cpp merges a family registered twice), so each component resolves its own
// series once when it starts and keeps plain pointers (STYLE: metrics are state).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string_view>

namespace fa::monitoring {

/// grpc:// and grpcs:// listeners (every stream together).
class grpc_metrics {
 public:
  explicit grpc_metrics(prometheus::Registry& r);

  /// ExportRequests and the Flows in them, received (accepted or not).
  prometheus::Counter& requests() { return *requests_; }
  prometheus::Counter& flows() { return *flows_; }
  /// Flows refused, by rpc::flow_error (a fixed set: no_timestamps, bad_timestamp,
  /// bad_ip_version, bad_address, bad_port, unknown_enum, too_large, too_many_domains).
  prometheus::Counter& flows_rejected(std::string_view reason);
  /// Streams and connections refused (rpc/export_connection.hpp: name_not_allowed,
  /// shutdown, unknown_method, not_grpc, bad_request, compressed, not_http2,
  /// protocol_error); max_sessions refusals are in sessions_rejected_total.
  prometheus::Counter& streams_refused(std::string_view reason);

 private:
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Counter* requests_;
  prometheus::Counter* flows_;
};

/// One flow stream destination (label `destination`); subscriber series (label
/// `subscriber`, "<id>@<peer>") are removed when the subscriber leaves.
class flow_stream_metrics {
 public:
  flow_stream_metrics(prometheus::Registry& r, std::string_view destination);

  prometheus::Gauge& subscribers() { return *subscribers_; }
  prometheus::Counter& flows_sent() { return *sent_; }
  /// Records subscribers missed because the buffer overwrote them, all subscribers.
  prometheus::Counter& missed() { return *missed_; }
  /// Subscribers refused, by reason (max_subscribers, invalid_argument).
  prometheus::Counter& refused(std::string_view reason);
  /// The missed records of one subscriber; `forget_subscriber` removes the series.
  prometheus::Counter& subscriber_missed(std::string_view subscriber);
  void forget_subscriber(prometheus::Counter& c);

 private:
  std::string destination_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Counter>& subscriber_missed_;
  prometheus::Gauge* subscribers_;
  prometheus::Counter* sent_;
  prometheus::Counter* missed_;
};

} // namespace fa::monitoring
