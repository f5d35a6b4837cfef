#pragma once

// enricher[k] (DESIGN 2): copies each record and appends the configured fields.
// Sessions are pinned to one enricher by hash, so a session's records stay in order.
// Labels come from the current Pod snapshot pushed by the label cache; no message is
// sent per record.

#include "actors/enrichment_options.hpp"
#include "actors/flow_split.hpp"
#include "actors/interfaces.hpp"
#include "actors/rendezvous.hpp"
#include "monitoring/metrics.hpp"

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace fa::actors {

/// How batches are spread over the destinations (`[fanout] mode`).
enum class fanout_mode : std::uint8_t {
  all,  ///< every destination gets every batch
  hash, ///< each exporter (by address) sticks to one destination
  /// each record to one destination by rendezvous hashing of its flow key (records
  /// without one by their exporter, as hash): the proxy tier in front of aggregate-mode
  /// shards (DESIGN 9), both halves of a flow reach one shard whichever proxy got them
  flow,
};

struct enricher_config {
  std::vector<destination_actor> destinations;
  enrichment_options enrichment;
  /// Largest data set body an output set may have: the smallest destination message
  /// size minus the message and set headers, so every set fits a message whole.
  std::size_t max_set_body = 65535 - 20;
  monitoring::metrics* metrics = nullptr;
  fanout_mode fanout = fanout_mode::all;
  /// fanout hash and flow: the destinations' names, in the order of `destinations`; each one's
  /// rendezvous seed is derived from its name, so the choice survives restarts and
  /// reordering of the config.
  std::vector<std::string> destination_names{};
  /// Per destination, in the order of `destinations`: on_full = "block", so it holds
  /// each batch's credit until written (enriched_batch::hold). A destination without an
  /// entry blocks.
  std::vector<bool> destination_blocks{};
  /// mode = "aggregate" with several shards: `destinations` are the aggregator shards and
  /// each record goes to the shard of its flow key (DESIGN 9), one message per shard and
  /// batch; `fanout` is not used. Otherwise batches are routed whole, or with fanout flow
  /// split over the destinations by rendezvous on the flow key.
  bool split_by_flow = false;
  /// fanout flow with fanout.failover: a record whose destination is down (its
  /// destination_up gauge in `metrics` reads 0) goes to its flow's next destination.
  bool failover = false;
};

struct enricher_state {
  enricher_state() = default;
  enricher_config cfg;
  labels::pod_snapshot_ptr pods;
  messages::enricher_status status;
  /// Variable-length values of the records in flight in enrich_slice (scratch).
  std::vector<ipfix::field_slice> fields;
  /// Output octets a record adds to its input, from the last batch: sizes the next one.
  std::size_t extra_per_record = 64;
  prometheus::Counter* dropped_addresses = nullptr;
  prometheus::Counter* dropped_start_time = nullptr;
  prometheus::Counter* dropped_too_large = nullptr;
  prometheus::Counter* lookup_hits = nullptr;   ///< added once per batch
  prometheus::Counter* lookup_misses = nullptr; ///< added once per batch
  prometheus::Histogram* batch_seconds = nullptr;
  std::vector<std::uint64_t> destination_seeds; ///< fanout hash and flow: one per destination
  /// split_by_flow or fanout flow: the output of each record; otherwise one output.
  flow_split split;
  static inline const char* name = "enricher";
};

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg);

/// flowDirection by Antrea's rules (antrea-proxy-semantics.md 2), decided from the
/// names as received, before any are filled in.
std::uint8_t flow_direction(std::uint8_t flow_type, bool source_pod_named,
                            bool destination_pod_named);

} // namespace fa::actors
