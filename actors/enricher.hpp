#pragma once

// enricher[k] (DESIGN 2): copies each record and appends the configured fields.
// Sessions are pinned to one enricher by hash, so a session's records stay in order.
// Labels come from the current Pod snapshot pushed by the label cache; no message is
// sent per record. A thin actor: the records are rewritten by enrich::slice_enricher and
// routed to the destinations (or the aggregator shards) by actors::destination_set.

#include "actors/enrichment_options.hpp"
#include "actors/fanout.hpp"
#include "actors/interfaces.hpp"
#include "enrich/slice_enricher.hpp"
#include "monitoring/metrics.hpp"

#include <optional>
#include <string>
#include <vector>

namespace fa::actors {

struct enricher_config {
  std::vector<destination_actor> destinations;
  enrichment_options enrichment;
  /// Largest data set body an output set may have: the smallest destination message
  /// size minus the message and set headers, so every set fits a message whole.
  std::size_t max_set_body = 65535 - 20;
  monitoring::metrics* metrics = nullptr;
  /// The routes (destination_spec says what each means).
  fanout_mode fanout = fanout_mode::all;
  std::vector<std::string> destination_names{};
  std::vector<bool> destination_blocks{};
  bool split_by_flow = false;
  bool failover = false;
  /// The payloads carry each record's variable-length values (enriched_payload varlen):
  /// set when a destination reads fields (the aggregator shards, ClickHouse, flow log,
  /// JSON lines, flow stream), not for IPFIX destinations, which only copy records.
  bool record_varlen = false;

  destination_spec routes() const {
    return {destinations, fanout, destination_names, destination_blocks, split_by_flow,
            failover,     metrics};
  }
};

struct enricher_state {
  enricher_state() = default;
  enricher_config cfg;
  /// Rewrites the records: the options, the Pod snapshot and the scratch space.
  enrich::slice_enricher enricher;
  enrich::slice_counts counts; ///< since spawn: copied into `status` after each batch
  std::optional<destination_set> routes;
  messages::enricher_status status;
  /// Output octets a record adds to its input, from the last batch: sizes the next one.
  std::size_t extra_per_record = 64;
  prometheus::Counter* dropped_addresses = nullptr;
  prometheus::Counter* dropped_start_time = nullptr;
  prometheus::Counter* dropped_too_large = nullptr;
  prometheus::Counter* lookup_hits = nullptr;   ///< added once per batch
  prometheus::Counter* lookup_misses = nullptr; ///< added once per batch
  prometheus::Histogram* batch_seconds = nullptr;
  static inline const char* name = "enricher";
};

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg);

using enrich::flow_direction;

} // namespace fa::actors
