#include "monitoring/metrics.hpp"

#include "monitoring/process_metrics.hpp"

#include <mutex>
#include <unordered_map>

namespace fa::monitoring {

namespace {

/// The registry /metrics serializes, plus the process_* families and the gauges read at
/// scrape time.
class process_registry final : public prometheus::Registry {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto out = Registry::Collect();
    for (auto& f : process_families(read_process_sample()))
      out.push_back(std::move(f));
    std::lock_guard guard{mtx_};
    for (const auto& g : gauges_) {
      prometheus::MetricFamily f{g.name, g.help, prometheus::MetricType::Gauge, {}};
      prometheus::ClientMetric m;
      m.gauge.value = g.value();
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    }
    return out;
  }

  void add(std::string name, std::string help, std::function<double()> value) {
    std::lock_guard guard{mtx_};
    gauges_.push_back({std::move(name), std::move(help), std::move(value)});
  }

 private:
  struct scrape_gauge {
    std::string name, help;
    std::function<double()> value;
  };
  mutable std::mutex mtx_;
  std::vector<scrape_gauge> gauges_;
};

template <class Builder>
auto& family(Builder b, prometheus::Registry& r, const char* name, const char* help) {
  return b.Name(name).Help(help).Register(r);
}

} // namespace

// --- exporters ---

/// The per-exporter series: created on an address's first session, removed after its
/// last (Family::Remove), at most `cap` addresses at a time plus "other". Guarded by a
/// mutex taken when a session starts or ends, never when counting.
class exporter_table : public std::enable_shared_from_this<exporter_table> {
 public:
  exporter_table(std::shared_ptr<prometheus::Registry> r, std::size_t cap)
      : registry_(std::move(r))
      , messages_(family(prometheus::BuildCounter(), *registry_,
                         "flow_aggregator_exporter_messages_received_total",
                         "IPFIX messages received from one exporter (address)"))
      , records_(family(prometheus::BuildCounter(), *registry_,
                        "flow_aggregator_exporter_records_received_total",
                        "Data records received from one exporter (address)"))
      , bytes_(family(prometheus::BuildCounter(), *registry_,
                      "flow_aggregator_exporter_received_bytes_total",
                      "Octets of IPFIX messages received from one exporter (address)"))
      , lost_(family(prometheus::BuildCounter(), *registry_,
                     "flow_aggregator_exporter_records_lost_upstream_total",
                     "Data records one exporter's sequence numbers say are missing (RFC 7011 "
                     "10.3)"))
      , cap_(cap) {}

  exporter_metrics acquire(std::string_view address) {
    std::lock_guard guard{mtx_};
    std::string key{address};
    auto i = entries_.find(key);
    if (i == entries_.end()) {
      std::size_t named = entries_.size() - entries_.count(other);
      if (named >= cap_) {
        key = other;
        i = entries_.find(key);
      }
    }
    if (i == entries_.end()) {
      prometheus::Labels l{{"exporter", key}};
      entry e{0, &messages_.Add(l), &records_.Add(l), &bytes_.Add(l), &lost_.Add(l)};
      i = entries_.emplace(key, e).first;
    }
    ++i->second.holders;
    exporter_metrics m;
    m.messages = i->second.messages;
    m.records = i->second.records;
    m.bytes = i->second.bytes;
    m.lost_records = i->second.lost;
    m.table_ = shared_from_this();
    m.key_ = std::move(key);
    return m;
  }

  void release(const std::string& key) {
    std::lock_guard guard{mtx_};
    auto i = entries_.find(key);
    if (i == entries_.end() || --i->second.holders > 0)
      return;
    messages_.Remove(i->second.messages);
    records_.Remove(i->second.records);
    bytes_.Remove(i->second.bytes);
    lost_.Remove(i->second.lost);
    entries_.erase(i);
  }

 private:
  static constexpr const char* other = "other";
  struct entry {
    std::size_t holders = 0;
    prometheus::Counter* messages = nullptr;
    prometheus::Counter* records = nullptr;
    prometheus::Counter* bytes = nullptr;
    prometheus::Counter* lost = nullptr;
  };
  std::shared_ptr<prometheus::Registry> registry_; ///< owns the families below
  prometheus::Family<prometheus::Counter>& messages_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& lost_;
  std::size_t cap_;
  std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

#define FA_COUNTER(name, help)                                                                     \
  family(prometheus::BuildCounter(), *registry_, "flow_aggregator_" name, help)
#define FA_GAUGE(name, help)                                                                       \
  family(prometheus::BuildGauge(), *registry_, "flow_aggregator_" name, help)

metrics::metrics(std::size_t max_exporters)
    : registry_(std::make_shared<process_registry>())
    , tls_failures_(FA_COUNTER("tls_handshake_failures_total",
                               "TLS handshakes refused on tls:// listeners, by reason"))
    , tls_in_progress_(
          FA_GAUGE("tls_handshakes_in_progress", "TLS handshakes in progress on tls:// listeners"))
    , destination_tls_failures_(
          FA_COUNTER("destination_tls_failures_total",
                     "TLS handshakes with a destination's collector that failed, by reason"))
    , tls_reloads_(FA_COUNTER("tls_reloads_total",
                              "Reloads of the tls:// certificate, key and CA, by result"))
    , messages_(FA_COUNTER("messages_received_total", "IPFIX messages received"))
    , records_(FA_COUNTER("records_received_total", "Data records received"))
    , bytes_(FA_COUNTER("received_bytes_total", "Octets of IPFIX messages received"))
    , lost_(FA_COUNTER("records_lost_upstream_total",
                       "Data records missing according to sequence numbers (RFC 7011 10.3)"))
    , out_of_order_(FA_COUNTER("messages_out_of_order_total",
                               "Messages whose sequence number was behind the expected one"))
    , sequence_resets_(FA_COUNTER("sequence_resets_total",
                                  "Messages whose sequence number jumped implausibly far; "
                                  "neither loss nor reordering is counted for them"))
    , unknown_template_(FA_COUNTER("data_sets_unknown_template_total",
                                   "Data sets dropped because their template was unknown"))
    , templates_in_(FA_GAUGE("templates_in", "Templates live in exporter sessions"))
    , template_bytes_(FA_GAUGE("template_budget_bytes",
                               "Octets the live templates of exporter sessions are charged to "
                               "the template budget"))
    , malformed_(FA_COUNTER("malformed_total", "Malformed input discarded, by reason"))
    , template_events_(FA_COUNTER("template_events_total", "Template records applied, by outcome"))
    , enrich_dropped_(FA_COUNTER("enrich_dropped_records_total",
                                 "Records dropped during enrichment, by reason"))
    , accepted_(FA_COUNTER("sessions_accepted_total", "Exporter sessions accepted"))
    , rejected_(FA_COUNTER("sessions_rejected_total", "Exporter sessions refused, by reason"))
    , accept_failures_(
          FA_COUNTER("accept_failures_total",
                     "Failed accepts of TCP and TLS listeners, by transport and reason"))
    , closed_(
          FA_COUNTER("sessions_closed_total", "Exporter sessions ended, by transport and reason"))
    , open_(FA_GAUGE("sessions_open", "Exporter sessions open"))
    , templates_out_(FA_GAUGE("templates_out", "Output templates in use"))
    , sent_records_(FA_COUNTER("records_sent_total",
                               "Data records in writes the kernel accepted for a destination, "
                               "records sent again included"))
    , sent_messages_(FA_COUNTER("messages_sent_total", "IPFIX messages written to a destination"))
    , sent_bytes_(FA_COUNTER("sent_bytes_total", "Octets written to a destination"))
    , dropped_(FA_COUNTER("records_dropped_total", "Records dropped at a destination, by reason"))
    , reconnects_(FA_COUNTER("destination_reconnects_total", "Connection attempts after a failure"))
    , replayed_(FA_COUNTER("records_replayed_total",
                           "Records queued again for a destination after its connection ended "
                           "before the collector could be known to have read them"))
    , udp_gso_refused_(FA_COUNTER("udp_gso_refused_total",
                                  "ipfix+udp destinations whose route refused UDP GSO (sent as "
                                  "plain datagrams since)"))
    , queue_bytes_(FA_GAUGE("destination_queue_bytes", "Octets queued for a destination"))
    , up_(FA_GAUGE("destination_up", "1 when the destination's connection is up"))
    , rerouted_(FA_COUNTER("records_rerouted_total",
                           "fanout.failover: records whose flow's destination was down, sent "
                           "to the flow's next destination instead"))
    , udp_datagrams_(
          FA_COUNTER("udp_datagrams_received_total", "Datagrams received by udp:// listeners"))
    , udp_dropped_(
          FA_COUNTER("udp_datagrams_dropped_total", "Datagrams not handed to a session, by reason"))
    , udp_rcvbuf_(FA_GAUGE("udp_receive_buffer_bytes",
                           "Socket receive buffer granted to a udp:// listener"))
    , config_reloads_(FA_COUNTER("config_reloads_total",
                                 "Config reloads (SIGHUP or a changed file), by result"))
    , config_last_success_(FA_GAUGE("config_last_reload_success_timestamp_seconds",
                                    "Unix time of the last successful config load or reload"))
    , config_restart_required_(
          FA_GAUGE("config_restart_required",
                   "1 for each config key whose changed value needs a restart to apply"))
    , label_lookups_(
          FA_COUNTER("label_lookups_total",
                     "Pod label lookups of record addresses by the enrichers, by result"))
    , enrich_seconds_(family(prometheus::BuildHistogram(), *registry_,
                             "flow_aggregator_enrich_batch_duration_seconds",
                             "Time an enricher spent on one batch of records"))
    , ch_inserts_(
          FA_COUNTER("clickhouse_inserts_total", "INSERTs a ClickHouse destination completed"))
    , ch_rows_(
          FA_COUNTER("clickhouse_rows_inserted_total", "Rows a ClickHouse destination inserted"))
    , ch_seconds_(family(prometheus::BuildHistogram(), *registry_,
                         "flow_aggregator_clickhouse_insert_duration_seconds",
                         "Time of one successful INSERT (formatting, compressing, the request)"))
    , ch_failures_(
          FA_COUNTER("clickhouse_insert_failures_total", "INSERT attempts that failed, by reason"))
    , ch_queued_(
          FA_GAUGE("clickhouse_queued_rows",
                   "Rows queued for a ClickHouse destination, the insert in flight included"))
    , fl_writes_(FA_COUNTER("flow_log_writes_total", "Appends a flow-log destination completed"))
    , fl_lines_(FA_COUNTER("flow_log_lines_written_total", "Lines a flow-log destination wrote"))
    , fl_seconds_(family(prometheus::BuildHistogram(), *registry_,
                         "flow_aggregator_flow_log_write_duration_seconds",
                         "Time of one successful append to the flow log"))
    , fl_failures_(
          FA_COUNTER("flow_log_write_failures_total", "Flow-log writes that failed, by reason"))
    , fl_queued_(
          FA_GAUGE("flow_log_queued_records",
                   "Records queued for a flow-log destination, the write in flight included"))
    , fl_filtered_(FA_COUNTER("flow_log_records_filtered_total",
                              "Records a flow-log destination's filters left out"))
    , fl_rotations_(FA_COUNTER("flow_log_rotations_total", "Flow-log files rotated"))
    , exporters_(std::make_shared<exporter_table>(registry_, max_exporters))
    , label_cache_(std::make_unique<label_cache_metrics>(*registry_)) {
  // The session series of every transport exist from the start at 0, so that rates and
  // alerts over them are defined before the first exporter connects (5 label values).
  for (const char* t : {"tcp", "udp", "tls", "grpc", "grpcs"}) {
    session(t);
    sessions_accepted(t);
    sessions_open(t);
  }
}

#undef FA_COUNTER
#undef FA_GAUGE

session_metrics metrics::session(std::string_view transport) {
  prometheus::Labels l{{"transport", std::string{transport}}};
  return {&messages_.Add(l),
          &records_.Add(l),
          &bytes_.Add(l),
          &lost_.Add(l),
          &out_of_order_.Add(l),
          &sequence_resets_.Add(l),
          &unknown_template_.Add(l),
          &templates_in_.Add(l),
          &template_bytes_.Add(l)};
}

destination_metrics metrics::destination(std::string_view name) {
  std::string n{name};
  prometheus::Labels l{{"destination", n}};
  auto dropped = [&](const char* reason) {
    return &dropped_.Add({{"destination", n}, {"reason", reason}});
  };
  return {&sent_records_.Add(l), &sent_messages_.Add(l),  &sent_bytes_.Add(l),
          dropped("queue_full"), dropped("too_large"),    dropped("shutdown"),
          &reconnects_.Add(l),   &replayed_.Add(l),       &queue_bytes_.Add(l),
          &up_.Add(l),           &udp_gso_refused_.Add(l)};
}

void metrics::scrape_gauge(std::string name, std::string help, std::function<double()> value) {
  static_cast<process_registry&>(*registry_)
      .add(std::move(name), std::move(help), std::move(value));
}

namespace {

// 1 ms .. 30 s: an insert of up to max_rows rows, or one file append; a request that
// hangs until its timeout lands in +Inf.
const prometheus::Histogram::BucketBoundaries write_buckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

} // namespace

prometheus::Counter* batch_sink_metrics::failure(std::string_view reason) const {
  for (const auto& [r, c] : failures)
    if (r == reason)
      return c;
  return nullptr;
}

batch_sink_metrics metrics::batch_sink(const batch_sink_families& f, std::string_view destination,
                                       std::span<const std::string_view> reasons) {
  std::string n{destination};
  prometheus::Labels l{{"destination", n}};
  batch_sink_metrics m;
  m.writes = &f.writes.Add(l);
  m.rows = &f.rows.Add(l);
  m.write_seconds = &f.seconds.Add(l, write_buckets);
  m.queued_rows = &f.queued.Add(l);
  if (f.filtered)
    m.filtered = &f.filtered->Add(l);
  if (f.rotations)
    m.rotations = &f.rotations->Add(l);
  for (auto r : reasons)
    m.failures.emplace_back(std::string{r},
                            &f.failures.Add({{"destination", n}, {"reason", std::string{r}}}));
  return m;
}

batch_sink_metrics metrics::clickhouse(std::string_view destination,
                                       std::span<const std::string_view> reasons) {
  return batch_sink(
      {ch_inserts_, ch_rows_, ch_seconds_, ch_failures_, ch_queued_, nullptr, nullptr}, destination,
      reasons);
}

batch_sink_metrics metrics::flow_log(std::string_view destination,
                                     std::span<const std::string_view> reasons) {
  return batch_sink(
      {fl_writes_, fl_lines_, fl_seconds_, fl_failures_, fl_queued_, &fl_filtered_, &fl_rotations_},
      destination, reasons);
}

prometheus::Counter& metrics::tls_handshake_failures(std::string_view reason) {
  return tls_failures_.Add({{"reason", std::string{reason}}});
}
prometheus::Gauge& metrics::tls_handshakes_in_progress() {
  return tls_in_progress_.Add({});
}
prometheus::Counter& metrics::destination_tls_failures(std::string_view destination,
                                                       std::string_view reason) {
  return destination_tls_failures_.Add(
      {{"destination", std::string{destination}}, {"reason", std::string{reason}}});
}
prometheus::Counter& metrics::tls_reloads(std::string_view result) {
  return tls_reloads_.Add({{"result", std::string{result}}});
}

prometheus::Counter& metrics::malformed(std::string_view reason) {
  return malformed_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::template_event(std::string_view event) {
  return template_events_.Add({{"event", std::string{event}}});
}
prometheus::Counter& metrics::enrich_dropped(std::string_view reason) {
  return enrich_dropped_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::sessions_accepted(std::string_view transport) {
  return accepted_.Add({{"transport", std::string{transport}}});
}
prometheus::Counter& metrics::sessions_rejected(std::string_view reason) {
  return rejected_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::accept_failures(std::string_view transport, std::string_view reason) {
  return accept_failures_.Add(
      {{"transport", std::string{transport}}, {"reason", std::string{reason}}});
}
prometheus::Counter& metrics::sessions_closed(std::string_view transport, std::string_view reason) {
  return closed_.Add({{"transport", std::string{transport}}, {"reason", std::string{reason}}});
}
prometheus::Gauge& metrics::sessions_open(std::string_view transport) {
  return open_.Add({{"transport", std::string{transport}}});
}
prometheus::Gauge& metrics::templates_out() {
  return templates_out_.Add({});
}
prometheus::Counter& metrics::udp_datagrams() {
  return udp_datagrams_.Add({});
}
prometheus::Counter& metrics::udp_dropped(std::string_view reason) {
  return udp_dropped_.Add({{"reason", std::string{reason}}});
}
prometheus::Gauge& metrics::udp_receive_buffer(std::string_view listener) {
  return udp_rcvbuf_.Add({{"listener", std::string{listener}}});
}
prometheus::Counter& metrics::label_lookups(std::string_view result) {
  return label_lookups_.Add({{"result", std::string{result}}});
}
prometheus::Histogram& metrics::enrich_batch_seconds() {
  // 10 us .. 100 ms: a batch is one chunk of a session's messages (a few hundred
  // records at most); slower ones land in +Inf.
  return enrich_seconds_.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1});
}

exporter_metrics metrics::exporter(std::string_view address) {
  return exporters_->acquire(address);
}

exporter_metrics::exporter_metrics(exporter_metrics&& other) noexcept
    : messages(std::exchange(other.messages, nullptr))
    , records(std::exchange(other.records, nullptr))
    , bytes(std::exchange(other.bytes, nullptr))
    , lost_records(std::exchange(other.lost_records, nullptr))
    , table_(std::move(other.table_))
    , key_(std::move(other.key_)) {}

exporter_metrics& exporter_metrics::operator=(exporter_metrics&& other) noexcept {
  if (this != &other) {
    release();
    messages = std::exchange(other.messages, nullptr);
    records = std::exchange(other.records, nullptr);
    bytes = std::exchange(other.bytes, nullptr);
    lost_records = std::exchange(other.lost_records, nullptr);
    table_ = std::move(other.table_);
    key_ = std::move(other.key_);
  }
  return *this;
}

exporter_metrics::~exporter_metrics() {
  release();
}

void exporter_metrics::release() {
  if (table_)
    table_->release(key_);
  table_.reset();
  messages = records = bytes = lost_records = nullptr;
}

// --- label cache ---

label_cache_metrics::label_cache_metrics(prometheus::Registry& r) {
  auto gauge = [&](const char* name, const char* help) {
    return &family(prometheus::BuildGauge(), r, name, help).Add({});
  };
  auto counter_family = [&](const char* name, const char* help) -> auto& {
    return family(prometheus::BuildCounter(), r, name, help);
  };
  auto counter = [&](const char* name, const char* help) {
    return label_cache_metrics::counter{&counter_family(name, help).Add({})};
  };
  ready_ = gauge("flow_aggregator_label_cache_ready",
                 "1 when the label cache holds its source's Pods (file loaded, or Kubernetes "
                 "listed)");
  pods_ = gauge("flow_aggregator_label_cache_pods", "Pods in the label cache (deleted ones kept "
                                                    "for the retention time included)");
  ips_ = gauge("flow_aggregator_label_cache_ips", "IP addresses in the label cache");
  last_sync_ = gauge("flow_aggregator_label_cache_last_sync_timestamp_seconds",
                     "Unix time of the last full Pod LIST or labels file load (0 = never)");
  lists_ = counter("flow_aggregator_label_cache_lists_total",
                   "Complete Pod LISTs from the Kubernetes API (the first sync included)");
  relists_gone_ = counter("flow_aggregator_label_cache_relists_total",
                          "Relists forced by 410 Gone (the watch's resource version expired)");
  watch_restarts_ = counter("flow_aggregator_label_cache_watch_restarts_total",
                            "Pod watches that ended and were started again");
  idle_restarts_ = counter("flow_aggregator_label_cache_idle_watch_restarts_total",
                           "Pod watches restarted after watch_idle_timeout of silence");
  watch_events_ = counter("flow_aggregator_label_cache_watch_events_total",
                          "Pod ADDED/MODIFIED/DELETED events read from the watch");
  errors_ = counter("flow_aggregator_label_cache_errors_total",
                    "Failed Kubernetes API requests (each retried with backoff)");
  bad_objects_ = counter("flow_aggregator_label_cache_bad_objects_total",
                         "Pod objects or events that did not parse, skipped");
  auto& loads = counter_family("flow_aggregator_label_cache_file_loads_total",
                               "Labels file reads, by result (ok, rejected)");
  reloads_ok_ = {&loads.Add({{"result", "ok"}})};
  reloads_rejected_ = {&loads.Add({{"result", "rejected"}})};
  snapshots_ = counter("flow_aggregator_label_cache_snapshots_total",
                       "Pod snapshots published to the enrichers");
  expired_ = counter("flow_aggregator_label_cache_expired_pods_total",
                     "Deleted Pods dropped after the retention time");
}

void label_cache_metrics::counter::set(std::uint64_t v) {
  // A smaller value comes from a new label cache (its counts start at 0 again).
  auto delta = v >= last ? v - last : v;
  if (delta > 0)
    c->Increment(static_cast<double>(delta));
  last = v;
}

void label_cache_metrics::update(const label_cache_values& v) {
  ready_->Set(v.ready ? 1 : 0);
  pods_->Set(static_cast<double>(v.pods));
  ips_->Set(static_cast<double>(v.ips));
  last_sync_->Set(static_cast<double>(v.last_sync));
  lists_.set(v.lists);
  relists_gone_.set(v.relists_gone);
  watch_restarts_.set(v.watch_restarts);
  idle_restarts_.set(v.idle_restarts);
  watch_events_.set(v.watch_events);
  errors_.set(v.errors);
  bad_objects_.set(v.bad_objects);
  reloads_ok_.set(v.reloads);
  reloads_rejected_.set(v.rejected_reloads);
  snapshots_.set(v.snapshots);
  expired_.set(v.expired);
}

// --- names ---

std::string_view session_close_reason(std::string_view r) {
  // net/tcp_connection.cpp, net/tls_connection.cpp, net/udp_listener.cpp, the framer
  // (net/tcp_framer.hpp), net/session_deadline.hpp and rpc/export_connection.cpp
  // ("cancelled": a gRPC stream reset, too large a request, no keepalive answer) name these;
  // anything else is a socket error text.
  if (r == "eof" || r == "eof_mid_message" || r == "eof_without_close_notify" ||
      r == "idle_timeout" || r == "message_timeout" || r == "shutdown" || r == "closed" ||
      r == "cancelled" || r == "malformed" || r == "first_message_timeout" || r == "reclaimed")
    return r;
  if (r == "bad_version" || r == "bad_message_length" || r == "message_too_large")
    return "malformed";
  if (r == "session ended")
    return "closed";
  return "error";
}

std::string_view exporter_address(std::string_view peer) {
  if (!peer.empty() && peer.front() == '[') {
    auto end = peer.find(']');
    return end == std::string_view::npos ? peer.substr(1) : peer.substr(1, end - 1);
  }
  auto colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}
prometheus::Counter& metrics::records_dropped(std::string_view destination,
                                              std::string_view reason) {
  return dropped_.Add({{"destination", std::string{destination}}, {"reason", std::string{reason}}});
}
prometheus::Counter& metrics::records_rerouted(std::string_view destination) {
  return rerouted_.Add({{"destination", std::string{destination}}});
}
prometheus::Gauge& metrics::destination_up(std::string_view destination) {
  return up_.Add({{"destination", std::string{destination}}});
}
prometheus::Counter& metrics::config_reloads(std::string_view result) {
  return config_reloads_.Add({{"result", std::string{result}}});
}
prometheus::Gauge& metrics::config_last_reload_success() {
  return config_last_success_.Add({});
}
prometheus::Gauge& metrics::config_restart_required(std::string_view key) {
  return config_restart_required_.Add({{"key", std::string{key}}});
}

} // namespace fa::monitoring

namespace fa::monitoring {

// --- aggregate mode ---

/// Registered by the first aggregator shard: a proxy-mode process has none of them.
struct metrics::aggregate_families {
  explicit aggregate_families(prometheus::Registry& r)
      : flows(family(prometheus::BuildGauge(), r, "flow_aggregator_aggregate_flows",
                     "Flows held by an aggregator shard, pending ones included"))
      , pending(family(prometheus::BuildGauge(), r, "flow_aggregator_aggregate_pending_flows",
                       "Inter-Node flows of a shard waiting for the other Node's record"))
      , state_bytes(family(prometheus::BuildGauge(), r, "flow_aggregator_aggregate_state_bytes",
                           "Estimated octets of flow state held by a shard"))
      , records(family(prometheus::BuildCounter(), r, "flow_aggregator_aggregate_records_total",
                       "Records the aggregator shards received, by what became of them"))
      , exports(family(prometheus::BuildCounter(), r, "flow_aggregator_aggregate_exports_total",
                       "Aggregated records exported, by reason"))
      , uncorrelated(family(prometheus::BuildCounter(), r,
                            "flow_aggregator_aggregate_uncorrelated_flows_total",
                            "Inter-Node flows whose other Node's record never arrived, by "
                            "what was done with them (aggregate.uncorrelated)"))
      , evictions(family(prometheus::BuildCounter(), r, "flow_aggregator_aggregate_evictions_total",
                         "Flows exported early and removed because a shard was full "
                         "(aggregate.max_flows)"))
      , unaggregated(family(prometheus::BuildCounter(), r,
                            "flow_aggregator_aggregate_unaggregated_records_total",
                            "Records sent to the destinations without aggregation, by reason"))
      , export_dropped(family(prometheus::BuildCounter(), r,
                              "flow_aggregator_aggregate_export_dropped_total",
                              "Aggregated records not exported, by reason"))
      , export_lag(family(prometheus::BuildHistogram(), r,
                          "flow_aggregator_aggregate_export_lag_seconds",
                          "Time from when an aggregated export became due to when it was "
                          "handed to the destinations"))
      , lag(export_lag.Add({}, aggregator_metrics::export_lag_buckets())) {}

  prometheus::Family<prometheus::Gauge>& flows;
  prometheus::Family<prometheus::Gauge>& pending;
  prometheus::Family<prometheus::Gauge>& state_bytes;
  prometheus::Family<prometheus::Counter>& records;
  prometheus::Family<prometheus::Counter>& exports;
  prometheus::Family<prometheus::Counter>& uncorrelated;
  prometheus::Family<prometheus::Counter>& evictions;
  prometheus::Family<prometheus::Counter>& unaggregated;
  prometheus::Family<prometheus::Counter>& export_dropped;
  prometheus::Family<prometheus::Histogram>& export_lag;
  prometheus::Histogram& lag; ///< one series shared by every shard
};

const std::vector<double>& aggregator_metrics::export_lag_buckets() {
  // The poll runs once a second, so lags up to about 1 s are the norm; the 1.1 s bound
  // is the README's target for the p99.
  static const std::vector<double> b{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.1, 1.5, 2, 5, 10};
  return b;
}

metrics::~metrics() = default;

aggregator_metrics metrics::aggregator(std::uint32_t shard) {
  std::lock_guard guard{aggregate_mtx_};
  if (!aggregate_)
    aggregate_ = std::make_unique<aggregate_families>(*registry_);
  auto& f = *aggregate_;
  prometheus::Labels l{{"shard", std::to_string(shard)}};
  aggregator_metrics m;
  m.flows = &f.flows.Add(l);
  m.pending = &f.pending.Add(l);
  m.state_bytes = &f.state_bytes.Add(l);
  for (std::size_t i = 0; i < m.records.size(); ++i)
    m.records[i] = &f.records.Add({{"result", aggregator_metrics::record_results[i]}});
  for (std::size_t i = 0; i < m.exports.size(); ++i)
    m.exports[i] = &f.exports.Add({{"reason", aggregator_metrics::export_reasons[i]}});
  m.uncorrelated_exported = &f.uncorrelated.Add({{"action", "exported"}});
  m.uncorrelated_dropped = &f.uncorrelated.Add({{"action", "dropped"}});
  m.evictions = &f.evictions.Add({});
  m.forwarded = &f.unaggregated.Add({{"reason", "not_aggregatable"}});
  m.too_large = &f.export_dropped.Add({{"reason", "too_large"}});
  m.export_lag = &f.lag;
  // The enrichers' bypass series exists from the first shard on, at 0.
  f.unaggregated.Add({{"reason", "not_antrea"}});
  return m;
}

prometheus::Counter& metrics::unaggregated_records(std::string_view reason) {
  std::lock_guard guard{aggregate_mtx_};
  if (!aggregate_)
    aggregate_ = std::make_unique<aggregate_families>(*registry_);
  return aggregate_->unaggregated.Add({{"reason", std::string{reason}}});
}

} // namespace fa::monitoring
