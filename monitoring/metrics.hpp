#pragma once

// Prometheus metrics of the service. Families and label sets are resolved once, when a
// component starts, and components keep plain Counter*/Gauge* in their state (STYLE:
// metrics are state). Label values are bounded sets: transports, reasons from fixed
// enums, configured destination names, and exporter addresses up to a cap (beyond it
// they share exporter="other"). /metrics also carries the standard process_* metrics,
// read from /proc/self at scrape time (monitoring/process_metrics.hpp).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fa::monitoring {

class exporter_table;

/// Counters of one exporter (label `exporter`, its address without the port), shared by
/// all of its sessions (a UDP exporter may use several source ports, an agent reconnects).
/// Holding one keeps the exporter's series; when the last holder of an address goes, its
/// series are removed from /metrics (bounded cardinality: closed sessions leave nothing).
/// Move-only; the table it came from is kept alive by it.
class exporter_metrics {
 public:
  exporter_metrics() = default;
  exporter_metrics(exporter_metrics&& other) noexcept;
  exporter_metrics& operator=(exporter_metrics&& other) noexcept;
  exporter_metrics(const exporter_metrics&) = delete;
  exporter_metrics& operator=(const exporter_metrics&) = delete;
  ~exporter_metrics();

  prometheus::Counter* messages = nullptr;
  prometheus::Counter* records = nullptr;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* lost_records = nullptr;
  /// The label value in use: the address, or "other" beyond the cap.
  const std::string& label() const { return key_; }

 private:
  friend class exporter_table;
  void release();
  std::shared_ptr<exporter_table> table_;
  std::string key_;
};

/// What the label cache reports (messages::label_status, flattened so that monitoring
/// does not depend on the actors' messages).
struct label_cache_values {
  bool ready = false;
  std::uint64_t pods = 0;
  std::uint64_t ips = 0;
  std::int64_t last_sync = 0; ///< unix seconds, 0 = never
  std::uint64_t lists = 0;
  std::uint64_t relists_gone = 0;
  std::uint64_t watch_restarts = 0;
  std::uint64_t idle_restarts = 0;
  std::uint64_t watch_events = 0;
  std::uint64_t errors = 0;
  std::uint64_t bad_objects = 0;
  std::uint64_t reloads = 0;
  std::uint64_t rejected_reloads = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t expired = 0;
};

/// The label cache's gauges and counters. `update` is called by the label cache actor
/// only (once per tick and per published snapshot, never per record), so the last
/// values it turned into counter increments need no lock. Values that went down mean a
/// new label cache (a reload of the label source): counting starts again from them.
class label_cache_metrics {
 public:
  explicit label_cache_metrics(prometheus::Registry& r);
  void update(const label_cache_values& v);

 private:
  struct counter {
    prometheus::Counter* c = nullptr;
    std::uint64_t last = 0;
    void set(std::uint64_t v);
  };
  prometheus::Gauge* ready_;
  prometheus::Gauge* pods_;
  prometheus::Gauge* ips_;
  prometheus::Gauge* last_sync_;
  counter lists_, relists_gone_, watch_restarts_, idle_restarts_, watch_events_, errors_,
      bad_objects_, reloads_ok_, reloads_rejected_, snapshots_, expired_;
};

/// The reason label of sessions_closed_total for a transport's close reason: a fixed
/// set (eof, eof_mid_message, eof_without_close_notify, malformed, idle_timeout, message_timeout,
/// first_message_timeout, reclaimed, shutdown, closed, error), so that socket error texts
/// never become label values.
std::string_view session_close_reason(std::string_view transport_reason);

/// The exporter label of a peer text ("10.0.0.1:4739" or "[fd00::1]:4739"): the address.
std::string_view exporter_address(std::string_view peer_text);

/// Per-transport counters an agent session increments (per message or per set, never
/// per record).
struct session_metrics {
  prometheus::Counter* messages = nullptr;
  prometheus::Counter* records = nullptr;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* lost_records = nullptr;
  prometheus::Counter* out_of_order = nullptr;
  prometheus::Counter* sequence_resets = nullptr;
  prometheus::Counter* unknown_template_sets = nullptr;
  prometheus::Gauge* templates_in = nullptr;
  prometheus::Gauge* template_bytes = nullptr; ///< charged to the template budget
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
  /// Records queued again after a connection ended (at-least-once, exporter_session).
  prometheus::Counter* replayed = nullptr;
  prometheus::Gauge* queue_bytes = nullptr;
  prometheus::Gauge* up = nullptr;
  /// ipfix+udp: the kernel refused a UDP GSO send; the client sends plain datagrams since.
  prometheus::Counter* udp_gso_refused = nullptr;
};

/// The series of one aggregator shard (mode = "aggregate", DESIGN 9). The shard adds its
/// flow table's counts once per batch and per tick, never per record. Gauges carry the
/// shard number; counters are shared by every shard.
struct aggregator_metrics {
  /// Label values of `records`, in order: what became of a record a shard received.
  static constexpr std::array<const char*, 5> record_results{"created", "updated", "correlated",
                                                             "out_of_date", "malformed"};
  /// Label values of `exports`, in the order of flows::export_reason.
  static constexpr std::array<const char*, 6> export_reasons{"ready",   "active",   "inactive",
                                                             "evicted", "shutdown", "uncorrelated"};

  prometheus::Gauge* flows = nullptr;
  prometheus::Gauge* pending = nullptr;
  prometheus::Gauge* state_bytes = nullptr;
  std::array<prometheus::Counter*, record_results.size()> records{};
  std::array<prometheus::Counter*, export_reasons.size()> exports{};
  prometheus::Counter* uncorrelated_exported = nullptr;
  prometheus::Counter* uncorrelated_dropped = nullptr;
  prometheus::Counter* evictions = nullptr;
  /// Records of Antrea templates the shard cannot aggregate, forwarded as they are.
  prometheus::Counter* forwarded = nullptr;
  /// Aggregated records larger than a destination's set: not exported.
  prometheus::Counter* too_large = nullptr;
  /// Seconds from when an export became due (a deadline met by the once-a-second poll)
  /// to when the shard handed it to the destinations. Shared by the shards; each adds
  /// its own bucket counts once per poll (ObserveMultiple), never per record.
  prometheus::Histogram* export_lag = nullptr;
  /// The upper bounds of `export_lag`'s buckets.
  static const std::vector<double>& export_lag_buckets();
};

/// Series of one batch destination (`clickhouse+http(s)`, `flowlog`): one write is one
/// INSERT or one append to the file. Resolved when the destination starts; incremented
/// once per write, never per record.
struct batch_sink_metrics {
  prometheus::Counter* writes = nullptr; ///< inserts / file writes that succeeded
  prometheus::Counter* rows = nullptr;   ///< rows inserted / lines written
  prometheus::Histogram* write_seconds = nullptr;
  prometheus::Gauge* queued_rows = nullptr;
  prometheus::Counter* filtered = nullptr;  ///< flow log: records the filters left out
  prometheus::Counter* rotations = nullptr; ///< flow log: files rotated
  /// Failed attempts by reason (each backend's fixed set).
  std::vector<std::pair<std::string, prometheus::Counter*>> failures;
  /// The counter of `reason`; nullptr for a reason outside the set.
  prometheus::Counter* failure(std::string_view reason) const;
};

class metrics {
 public:
  /// Exporters with series of their own; more share exporter="other".
  static constexpr std::size_t default_max_exporters = 100;

  explicit metrics(std::size_t max_exporters = default_max_exporters);
  ~metrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  /// A gauge without labels whose value `value()` gives at each scrape (for state that
  /// lives elsewhere, such as the receive budget's use): nothing is sampled in between.
  void scrape_gauge(std::string name, std::string help, std::function<double()> value);

  session_metrics session(std::string_view transport);
  destination_metrics destination(std::string_view name);
  /// The series of the exporter at `address` (or of "other" when `max_exporters`
  /// addresses have series already). Takes a lock: once per session, never per record.
  exporter_metrics exporter(std::string_view address);

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
  /// TCP/TLS listeners: accept() failures, by reason (net::accept_backoff: fd_limit,
  /// no_memory, aborted, other).
  prometheus::Counter& accept_failures(std::string_view transport, std::string_view reason);
  /// Sessions ended, by transport and by `session_close_reason`.
  prometheus::Counter& sessions_closed(std::string_view transport, std::string_view reason);
  prometheus::Gauge& sessions_open(std::string_view transport);
  prometheus::Gauge& templates_out();
  /// udp:// listeners: datagrams received, and those not handed to a session by reason
  /// (budget, refused, socket_overflow; malformed ones also count in `malformed`).
  prometheus::Counter& udp_datagrams();
  prometheus::Counter& udp_dropped(std::string_view reason);
  /// The receive buffer the kernel granted a udp:// listener (SO_RCVBUF as read back).
  prometheus::Gauge& udp_receive_buffer(std::string_view listener);
  /// The label cache's Pods, IPs, sync time, watch restarts, relists and errors.
  label_cache_metrics& label_cache() { return *label_cache_; }
  /// Pod label lookups of the enrichers, by result ("hit" or "miss").
  prometheus::Counter& label_lookups(std::string_view result);
  /// Time an enricher spends on one batch (observed once per batch).
  prometheus::Histogram& enrich_batch_seconds();

  /// The series of aggregator shard `shard`. The first call registers the aggregate
  /// families, so a proxy-mode process shows none of them. Takes a lock: once per shard.
  aggregator_metrics aggregator(std::uint32_t shard);
  /// Records sent on without aggregation in mode = "aggregate", by reason: "not_antrea"
  /// (the enrichers' bypass), "not_aggregatable" (an Antrea template a shard cannot
  /// aggregate; also in aggregator_metrics::forwarded).
  prometheus::Counter& unaggregated_records(std::string_view reason);
  /// A ClickHouse destination's inserts, rows, insert latency, failures by `reasons`,
  /// queued rows.
  batch_sink_metrics clickhouse(std::string_view destination,
                                std::span<const std::string_view> reasons);
  /// A flow-log destination's writes, lines, write latency, failures by `reasons`,
  /// queued records, filtered records and rotations.
  batch_sink_metrics flow_log(std::string_view destination,
                              std::span<const std::string_view> reasons);

  /// Records a destination dropped, by reason, outside its own counters (e.g. "removed":
  /// what a destination removed by a reload could not send within the drain bound).
  prometheus::Counter& records_dropped(std::string_view destination, std::string_view reason);
  /// fanout.failover: records whose flow's destination was down, sent to the flow's
  /// next destination instead (labelled with the one that was down).
  prometheus::Counter& records_rerouted(std::string_view destination);
  /// A destination's `destination_up` gauge: routing reads it (fanout.failover).
  prometheus::Gauge& destination_up(std::string_view destination);
  /// Config reloads (SIGHUP or a changed file), by result: success or failure.
  prometheus::Counter& config_reloads(std::string_view result);
  /// Unix time of the last successful config reload (the start counts as one).
  prometheus::Gauge& config_last_reload_success();
  /// 1 for each key whose new value waits for a restart, 0 once it no longer differs.
  prometheus::Gauge& config_restart_required(std::string_view key);

 private:
  /// The families of one kind of batch destination.
  struct batch_sink_families {
    prometheus::Family<prometheus::Counter>& writes;
    prometheus::Family<prometheus::Counter>& rows;
    prometheus::Family<prometheus::Histogram>& seconds;
    prometheus::Family<prometheus::Counter>& failures;
    prometheus::Family<prometheus::Gauge>& queued;
    prometheus::Family<prometheus::Counter>* filtered;
    prometheus::Family<prometheus::Counter>* rotations;
  };
  batch_sink_metrics batch_sink(const batch_sink_families& f, std::string_view destination,
                                std::span<const std::string_view> reasons);

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
  prometheus::Family<prometheus::Counter>& sequence_resets_;
  prometheus::Family<prometheus::Counter>& unknown_template_;
  prometheus::Family<prometheus::Gauge>& templates_in_;
  prometheus::Family<prometheus::Gauge>& template_bytes_;
  prometheus::Family<prometheus::Counter>& malformed_;
  prometheus::Family<prometheus::Counter>& template_events_;
  prometheus::Family<prometheus::Counter>& enrich_dropped_;
  prometheus::Family<prometheus::Counter>& accepted_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& accept_failures_;
  prometheus::Family<prometheus::Counter>& closed_;
  prometheus::Family<prometheus::Gauge>& open_;
  prometheus::Family<prometheus::Gauge>& templates_out_;
  prometheus::Family<prometheus::Counter>& sent_records_;
  prometheus::Family<prometheus::Counter>& sent_messages_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Counter>& reconnects_;
  prometheus::Family<prometheus::Counter>& replayed_;
  prometheus::Family<prometheus::Counter>& udp_gso_refused_;
  prometheus::Family<prometheus::Gauge>& queue_bytes_;
  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Counter>& rerouted_;
  prometheus::Family<prometheus::Counter>& udp_datagrams_;
  prometheus::Family<prometheus::Counter>& udp_dropped_;
  prometheus::Family<prometheus::Gauge>& udp_rcvbuf_;
  prometheus::Family<prometheus::Counter>& config_reloads_;
  prometheus::Family<prometheus::Gauge>& config_last_success_;
  prometheus::Family<prometheus::Gauge>& config_restart_required_;
  prometheus::Family<prometheus::Counter>& label_lookups_;
  prometheus::Family<prometheus::Histogram>& enrich_seconds_;
  prometheus::Family<prometheus::Counter>& ch_inserts_;
  prometheus::Family<prometheus::Counter>& ch_rows_;
  prometheus::Family<prometheus::Histogram>& ch_seconds_;
  prometheus::Family<prometheus::Counter>& ch_failures_;
  prometheus::Family<prometheus::Gauge>& ch_queued_;
  prometheus::Family<prometheus::Counter>& fl_writes_;
  prometheus::Family<prometheus::Counter>& fl_lines_;
  prometheus::Family<prometheus::Histogram>& fl_seconds_;
  prometheus::Family<prometheus::Counter>& fl_failures_;
  prometheus::Family<prometheus::Gauge>& fl_queued_;
  prometheus::Family<prometheus::Counter>& fl_filtered_;
  prometheus::Family<prometheus::Counter>& fl_rotations_;
  std::shared_ptr<exporter_table> exporters_;
  std::unique_ptr<label_cache_metrics> label_cache_;
  struct aggregate_families;
  std::mutex aggregate_mtx_; ///< guards the creation of `aggregate_`
  std::unique_ptr<aggregate_families> aggregate_;
};

} // namespace fa::monitoring
