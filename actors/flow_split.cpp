#include "actors/flow_split.hpp"

#include "flows/aggregate_layout.hpp"

#include <algorithm>

namespace fa::actors {

const flow_key_reader* flow_split::reader_of(const messages::template_plan_ptr& plan) {
  auto same = [&](const entry& e) { return e.key == plan.get() && e.alive.lock() == plan; };
  if (last_ < entries_.size() && same(entries_[last_]))
    return entries_[last_].reader.get();
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (same(entries_[i])) {
      last_ = i;
      return entries_[i].reader.get();
    }
  // The agent's template alone: the key fields are all agent fields, at the same
  // indexes and with the same values in the input record as in the enriched one.
  // Judged on the template alone, not on `plan->antrea` (which is off with
  // enrichment.antrea = false, as on the proxies in front of shards): a record that
  // carries the key is split by it whatever this process appends.
  std::shared_ptr<const flow_key_reader> reader;
  auto l = flows::make_aggregate_layout(plan->input, plan->input.fields.size());
  if (l->aggregatable)
    reader = std::make_shared<const flow_key_reader>(make_flow_key_reader(*l));
  prune();
  entries_.push_back({plan.get(), plan, std::move(reader)});
  last_ = entries_.size() - 1;
  return entries_.back().reader.get();
}

void flow_split::fail_over(std::vector<const prometheus::Gauge*> up,
                           std::vector<prometheus::Counter*> rerouted) {
  if (seeds_.empty() || up.size() != seeds_.size() || rerouted.size() != seeds_.size())
    return;
  up_ = std::move(up);
  rerouted_counters_ = std::move(rerouted);
  down_.assign(seeds_.size(), false);
  rerouted_.assign(seeds_.size(), 0);
  num_down_ = 0;
}

void flow_split::begin_batch() {
  num_down_ = 0;
  for (std::size_t i = 0; i < up_.size(); ++i) {
    down_[i] = up_[i]->Value() < 0.5;
    num_down_ += down_[i] ? 1 : 0;
  }
}

void flow_split::end_batch() {
  if (num_down_ == 0)
    return;
  for (std::size_t i = 0; i < rerouted_.size(); ++i)
    if (rerouted_[i] > 0) {
      rerouted_counters_[i]->Increment(static_cast<double>(rerouted_[i]));
      rerouted_[i] = 0;
    }
}

void flow_split::prune() {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const entry& e) { return e.alive.expired(); }),
                 entries_.end());
  last_ = 0;
}

} // namespace fa::actors
