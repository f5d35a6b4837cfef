#pragma once

// mode = "aggregate" (DESIGN 9): which aggregator shard each record goes to. The two
// records of a connection come from two Nodes, so two sessions and usually two
// enrichers; keyed by the flow key (flows::record_key, the FromExternal ingress half
// included), both reach the shard that owns the flow. What a template needs is computed
// once per template plan, never per record; per record it is a key read and a hash.

#include "flows/aggregate_layout.hpp"
#include "messages/template_plan.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace fa::actors {

class shard_split {
 public:
  explicit shard_split(std::size_t shards = 1)
      : shards_(shards == 0 ? 1 : shards) {}

  std::size_t shards() const { return shards_; }

  /// The layout that reads the flow key of `plan`'s records, or nullptr when they cannot
  /// be aggregated (no Antrea elements, a key field, flowType or time missing, reduced
  /// counters: flows::make_aggregate_layout says why); those are forwarded unaggregated.
  /// Made on the first call for a plan and kept while the plan lives.
  const flows::aggregate_layout* layout_of(const messages::template_plan_ptr& plan);

  /// The shard of one record of the layout `l` (from `layout_of`): `record` is its octets
  /// and `varlen` its variable-length values as the plan's record_layout walked them.
  std::size_t shard_of(const flows::aggregate_layout& l, ipfix::bytes_view record,
                       std::span<const ipfix::field_slice> varlen) const {
    if (shards_ == 1)
      return 0;
    return flows::shard_of(flows::hash(flows::record_key(l, record, varlen)), shards_);
  }

  /// Forgets the layouts of plans that are gone (call now and then, not per record).
  void prune();

 private:
  struct entry {
    const messages::template_plan* key = nullptr;
    std::weak_ptr<const messages::template_plan> alive;
    std::shared_ptr<const flows::aggregate_layout> layout; ///< null: not aggregatable
  };
  std::size_t shards_;
  std::vector<entry> entries_;
  std::size_t last_ = 0; ///< the entry found last: consecutive slices mostly share a plan
};

} // namespace fa::actors
