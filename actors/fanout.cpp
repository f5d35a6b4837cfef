#include "actors/fanout.hpp"

#include "monitoring/metrics.hpp"

namespace fa::actors {

std::optional<destination_set> destination_set::make(destination_spec spec, std::string& error) {
  if (spec.destinations.empty()) {
    error = "no destination";
    return std::nullopt;
  }
  const bool keyed = !spec.split_by_flow && spec.fanout != fanout_mode::all;
  if (keyed && spec.names.size() != spec.destinations.size()) {
    error = "fanout hash and flow need one name per destination";
    return std::nullopt;
  }
  destination_set set;
  if (keyed)
    for (const auto& n : spec.names)
      set.seeds_.push_back(destination_seed(n));
  // The shards' hash ranges, the destinations' rendezvous for fanout flow (rendezvous
  // over new names moves only the flows a new destination wins or a removed one owned:
  // README, Scaling out aggregate mode), or one output (batches routed whole).
  if (spec.split_by_flow)
    set.split_ = flow_split{spec.destinations.size()};
  else if (spec.fanout == fanout_mode::flow) {
    set.split_ = flow_split{set.seeds_};
    if (spec.failover && spec.metrics) {
      std::vector<const prometheus::Gauge*> up;
      std::vector<prometheus::Counter*> rerouted;
      for (const auto& n : spec.names) {
        up.push_back(&spec.metrics->destination_up(n));
        rerouted.push_back(&spec.metrics->records_rerouted(n));
      }
      set.split_.fail_over(std::move(up), std::move(rerouted));
    }
  }
  set.spec_ = std::move(spec);
  return set;
}

} // namespace fa::actors
