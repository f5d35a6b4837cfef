#include "sinks/flow_plan_cache.hpp"

#include <algorithm>

namespace fa::sinks {

const flow_plan& flow_plan_cache::plan(const messages::output_template_ptr& t) {
  auto it = entries_.find(t.get());
  // Same address and still alive: the same template (a live object has one address).
  if (it != entries_.end() && !it->second.tmpl.expired())
    return *it->second.plan;
  if (it == entries_.end() && entries_.size() >= sweep_at_) {
    std::erase_if(entries_, [](const auto& kv) { return kv.second.tmpl.expired(); });
    sweep_at_ = std::max<std::size_t>(64, 2 * entries_.size());
  }
  auto& e = entries_[t.get()];
  e.tmpl = t;
  e.plan = std::make_unique<flow_plan>(t->def);
  return *e.plan;
}

} // namespace fa::sinks
