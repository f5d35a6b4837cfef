#pragma once

// Prometheus metrics of the service. Families and label sets are resolved once, when a
// component starts, and components keep plain Counter*/Gauge* in their state (STYLE:
// metrics are state). Label values are bounded sets: transports, reasons from fixed
// enums, configured destination names.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace fa::monitoring {

/// Per-transport counters an agent session increments (per message or per set, never
/// per record).
struct session_metrics {
  prometheus::Counter* messages = nullptr;
  prometheus::Counter* records = nullptr;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* lost_records = nullptr;
  prometheus::Counter* out_of_order = nullptr;
  prometheus::Counter* unknown_template_sets = nullptr;
  prometheus::Gauge* templates_in = nullptr;
};

/// Counters of one destination.
struct destination_metrics {
  prometheus::Counter* records = nullptr;
  prometheus::Counter* messages = nullptr;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* dropped_queue_full = nullptr;
  prometheus::Counter* dropped_too_large = nullptr;
  prometheus::Counter* dropped_shutdown = nullptr;
  prometheus::Counter* reconnects = nullptr;
  prometheus::Gauge* queue_bytes = nullptr;
  prometheus::Gauge* up = nullptr;
};

class metrics {
 public:
  metrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  session_metrics session(std::string_view transport);
  destination_metrics destination(std::string_view name);

  /// tls:// listeners: handshakes refused, by reason (the fixed set of
  /// net::handshake_failure_reason).
  prometheus::Counter& tls_handshake_failures(std::string_view reason);
  /// tls:// listeners: handshakes in progress (at most collector.tls.max_handshakes each).
  prometheus::Gauge& tls_handshakes_in_progress();
  /// ipfix+tls destinations: handshakes with the collector that failed, by reason.
  prometheus::Counter& destination_tls_failures(std::string_view destination,
                                                std::string_view reason);
  /// Reloads of the tls:// listeners' certificate, key and CA (SIGHUP), by result.
  prometheus::Counter& tls_reloads(std::string_view result);

  /// Malformed input, by the codec's reason (a fixed set).
  prometheus::Counter& malformed(std::string_view reason);
  /// Template events (added, redefined, unknown_withdrawal, ...).
  prometheus::Counter& template_event(std::string_view event);
  /// Records the enrichers dropped, by reason (antrea-proxy-semantics.md 2).
  prometheus::Counter& enrich_dropped(std::string_view reason);
  prometheus::Counter& sessions_accepted(std::string_view transport);
  prometheus::Counter& sessions_rejected(std::string_view reason);
  prometheus::Counter& sessions_closed(std::string_view transport);
  prometheus::Gauge& sessions_open(std::string_view transport);
  prometheus::Gauge& templates_out();
  /// udp:// listeners: datagrams received, and those not handed to a session by reason
  /// (budget, refused, socket_overflow; malformed ones also count in `malformed`).
  prometheus::Counter& udp_datagrams();
  prometheus::Counter& udp_dropped(std::string_view reason);
  /// The receive buffer the kernel granted a udp:// listener (SO_RCVBUF as read back).
  prometheus::Gauge& udp_receive_buffer(std::string_view listener);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& tls_failures_;
  prometheus::Family<prometheus::Gauge>& tls_in_progress_;
  prometheus::Family<prometheus::Counter>& destination_tls_failures_;
  prometheus::Family<prometheus::Counter>& tls_reloads_;
  prometheus::Family<prometheus::Counter>& messages_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Counter>& out_of_order_;
  prometheus::Family<prometheus::Counter>& unknown_template_;
  prometheus::Family<prometheus::Gauge>& templates_in_;
  prometheus::Family<prometheus::Counter>& malformed_;
  prometheus::Family<prometheus::Counter>& template_events_;
  prometheus::Family<prometheus::Counter>& enrich_dropped_;
  prometheus::Family<prometheus::Counter>& accepted_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& closed_;
  prometheus::Family<prometheus::Gauge>& open_;
  prometheus::Family<prometheus::Gauge>& templates_out_;
  prometheus::Family<prometheus::Counter>& sent_records_;
  prometheus::Family<prometheus::Counter>& sent_messages_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Counter>& reconnects_;
  prometheus::Family<prometheus::Gauge>& queue_bytes_;
  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Counter>& udp_datagrams_;
  prometheus::Family<prometheus::Counter>& udp_dropped_;
  prometheus::Family<prometheus::Gauge>& udp_rcvbuf_;
};

} // namespace fa::monitoring
