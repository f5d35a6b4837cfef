#pragma once

// Splitting a batch by flow into N outputs (DESIGN 9), the records of one flow always to
// the same output, whichever Node, session or process they came from:
// - the aggregator shards of one process (mode = "aggregate" with several shards): each
//   shard owns a range of the flow key's hash (flows::shard_of);
// - the destinations of fanout = "flow" (the proxy tier in front of aggregate-mode
//   shards): rendezvous hashing of the flow key over the destinations' names, so adding
//   or removing one moves only the flows it wins or owned.
// Keyed by the flow key (antrea-aggregate-semantics.md a, the FromExternal ingress half
// included, as flows::record_key reads it), both halves of a connection pick the same
// output. What a template needs is computed once per template plan, never per record
// (flow_key_reader.hpp: where each key field is); per record it is a few loads at those
// offsets, one hash of the key's words (flow_hash) and one weight per destination.
// With destinations marked down (fanout.failover), a record whose output is down goes to
// the next output of its key's rendezvous order, counted per output it should have gone to.

#include "actors/flow_key_reader.hpp"
#include "actors/rendezvous.hpp"
#include "ipfix/record.hpp"
#include "messages/template_plan.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace fa::actors {

class flow_split {
 public:
  /// `shards` outputs, each owning a range of the key hash (in-process aggregator shards).
  explicit flow_split(std::size_t shards = 1)
      : outputs_(shards == 0 ? 1 : shards) {}

  /// One output per seed (destination_seed of each destination's name): rendezvous.
  explicit flow_split(std::vector<std::uint64_t> seeds)
      : outputs_(seeds.empty() ? 1 : seeds.size())
      , seeds_(std::move(seeds)) {}

  std::size_t outputs() const { return outputs_; }

  /// The reader of the flow key of `plan`'s records, or nullptr when they cannot be
  /// aggregated (no Antrea elements, a key field, flowType or time missing, reduced
  /// counters: flows::make_aggregate_layout says why); those go by `output_of_exporter`.
  /// Made on the first call for a plan and kept while the plan lives.
  const flow_key_reader* reader_of(const messages::template_plan_ptr& plan);

  /// The output of one record read by `key` (from `reader_of`): `record` is its octets
  /// and `varlen` its variable-length values as the plan's record_layout walked them.
  std::size_t output_of(const flow_key_reader& key, ipfix::bytes_view record,
                        std::span<const ipfix::field_slice> varlen) {
    if (outputs_ == 1)
      return 0;
    return pick(key.hash(record.data(), varlen));
  }

  /// The output of records without a flow key, by their exporter (exporter_key): all of
  /// a session's such records go to one output, in its order (fanout hash's choice).
  std::size_t output_of_exporter(std::uint64_t exporter) {
    return outputs_ == 1 ? 0 : pick(exporter);
  }

  /// fanout.failover (destinations only): output `i` counts as down while `up[i]` (its
  /// destination_up gauge, which the destination itself sets) reads 0; what it loses
  /// is added to `rerouted[i]`. One entry per seed, or the call is ignored.
  void fail_over(std::vector<const prometheus::Gauge*> up,
                 std::vector<prometheus::Counter*> rerouted);

  /// Once per batch, before its records: reads which outputs are down (fanout.failover).
  void begin_batch();
  /// Once per batch, after its records: counts what was re-routed (fanout.failover).
  void end_batch();

  /// Forgets the readers of plans that are gone (call now and then, not per record).
  void prune();

 private:
  std::size_t pick(std::uint64_t h) {
    if (seeds_.empty())
      return flows::shard_of(h, outputs_);
    auto winner = rendezvous_pick(seeds_, h);
    if (num_down_ == 0 || !down_[winner])
      return winner;
    auto next = rendezvous_pick_up(seeds_, h, down_); // the winner when all are down
    if (next != winner)
      ++rerouted_[winner];
    return next;
  }

  struct entry {
    const messages::template_plan* key = nullptr;
    std::weak_ptr<const messages::template_plan> alive;
    std::shared_ptr<const flow_key_reader> reader; ///< null: not aggregatable
  };
  std::size_t outputs_;
  std::vector<std::uint64_t> seeds_; ///< empty: ranges of the hash (shards)
  // fanout.failover, per seed: whether it is down (read per batch from `up_`), and the
  // records of this batch it lost to the next choice (added to `rerouted_counters_`).
  std::vector<const prometheus::Gauge*> up_;
  std::vector<prometheus::Counter*> rerouted_counters_;
  std::vector<bool> down_;
  std::size_t num_down_ = 0;
  std::vector<std::uint64_t> rerouted_;
  std::vector<entry> entries_;
  std::size_t last_ = 0; ///< the entry found last: consecutive slices mostly share a plan
};

} // namespace fa::actors
