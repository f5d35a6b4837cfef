#pragma once

// aggregator[k] (mode = "aggregate", DESIGN 9): one shard of the flow table, a thin actor
// around `flows::flow_table`.
//
// - To the enrichers it is a destination: it takes `enriched_batch`es, copies the records
//   it keeps into the table and lets go of the batch (and its credit) at once. Flows live
//   a minute or more and must not pin the receive budgets; their memory is bounded by
//   this shard's share of `aggregate.max_flows` instead (evicted early, counted).
// - A tick on the actor clock (never the wall clock, so tests drive it with the
//   deterministic scheduler) polls the table; exported flows are written by
//   `flows::flow_encoder` as records of their aggregate output template, interned in the
//   shared output template table, so every destination announces it like any other
//   template (before first use, after a reconnect, on the UDP refresh).
// - Exports go to the real destinations through the enrichers' routing unit
//   (actors/fanout.hpp): fanout `all`, or `hash` (each flow sticks to one destination:
//   rendezvous on the flow key); a destination with on_full = "block" holds a credit on
//   the receive budget until it has written the batch, so a slow one pauses the receive
//   path as in proxy mode.
// - Records of templates that cannot be aggregated (not Antrea, or missing a key field)
//   are forwarded as they are, and counted.
// - `drain` (shutdown) exports every flow (ready ones as they are, pending ones by
//   `uncorrelated`) and replies once they are sent to the destinations.

#include "actors/enricher.hpp"
#include "actors/fanout.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "flows/flow_encoder.hpp"
#include "flows/flow_table.hpp"
#include "messages/chunk.hpp"
#include "monitoring/metrics.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fa::actors {

struct aggregator_config {
  std::uint32_t shard = 0;
  /// Timeouts, uncorrelated policy, and this shard's share of `max_flows`.
  flows::flow_table_config table;
  /// Where exported flows go (destination_spec says what each means; fanout flow means
  /// hash here: a flow sticks to one destination).
  std::vector<destination_actor> destinations;
  fanout_mode fanout = fanout_mode::all;
  std::vector<std::string> destination_names{};
  std::vector<bool> destination_blocks{};
  /// Largest data set body: the smallest destination message size less the headers.
  std::size_t max_set_body = 65535 - 20;
  /// Interns the aggregate output templates (the one the sessions use).
  std::shared_ptr<output_template_table> templates;
  /// What a blocking destination's credit is charged to: the receive budget (DESIGN 3).
  messages::byte_budget_ptr output_budget;
  monitoring::metrics* metrics = nullptr;
  /// How often the table is polled (Antrea's exporter checks once a second).
  std::chrono::milliseconds tick = std::chrono::seconds{1};
  /// Flows one poll step handles; a poll with more due goes on in further steps, between
  /// batches, so a burst of due flows neither stalls the shard nor builds one huge output.
  std::size_t export_step = 4096;
  /// Octets of encoded exports after which they are sent at once, mid-call: payloads stay
  /// this size whatever a drain or an eviction burst exports.
  std::size_t max_payload = std::size_t{1} << 20;

  destination_spec routes() const {
    return {destinations, fanout, destination_names, destination_blocks, false};
  }
};

struct aggregator_state;

using aggregator_pointer = aggregator_actor::stateful_pointer<aggregator_state>;

struct aggregator_state {
  aggregator_state() = default;
  aggregator_config cfg;
  std::unique_ptr<flows::flow_table> table;
  /// One encoder for fanout all, one per destination for fanout hash.
  std::vector<flows::flow_encoder> encoders;
  std::optional<destination_set> routes;
  /// The aggregate layout of each enriched template seen; entries whose template is
  /// gone are dropped on the tick (flows keep their own reference to the layout).
  struct layout_entry {
    const messages::output_template* key = nullptr;
    std::weak_ptr<const messages::output_template> alive;
    flows::aggregate_layout_ptr layout;
    bool antrea = false; ///< the template has Antrea elements (else forwarded as not_antrea)
  };
  std::vector<layout_entry> layouts;
  messages::aggregator_status status;
  flows::flow_table_stats published; ///< the table stats last added to the metrics
  std::uint64_t published_too_large = 0;
  /// The lags (seconds, to `now`) of the exports staged by the current call; the time
  /// until they are handed to the destinations is added when they are published.
  std::vector<float> lags;
  /// Bucket counts of aggregator_metrics::export_lag_buckets (plus +Inf): scratch.
  std::vector<double> lag_counts;
  /// The time of the call that exports (a batch, a tick, a drain).
  flows::clock_type::time_point now{};
  /// When the next poll starts: a tick after the last one started. Checked on every
  /// batch too, so a tick queued behind batches does not delay the exports.
  flows::clock_type::time_point next_poll{};
  bool polling = false;   ///< a poll is under way: more is due than one step handled
  bool step_sent = false; ///< a flush_atom (the next step) is in the mailbox

  monitoring::aggregator_metrics metrics;
  /// Records forwarded because their template has no Antrea element (metrics.forwarded
  /// counts the Antrea ones that cannot be aggregated).
  prometheus::Counter* forwarded_not_antrea = nullptr;
  static inline const char* name = "aggregator";
};

aggregator_actor::behavior_type aggregator(aggregator_pointer self, aggregator_config cfg);

/// Makes the shards an enricher's destinations (fanout all; with several shards each
/// record goes to its flow's shard). Each batch holds its session's credit until the
/// shard has read it (DESIGN 3): a shard that falls behind pauses the readers instead of
/// queueing batches without bound, and a tick waits behind at most the receive budget.
void route_to_shards(enricher_config& ec, const std::vector<aggregator_actor>& shards);

} // namespace fa::actors
