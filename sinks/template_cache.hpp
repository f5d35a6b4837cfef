#pragma once

// Per-template work done once: a `Plan` built on a template's first set and reused for
// every later set of it. Keyed by the template object and holding it weakly, so that a
// destination never keeps a template id reserved (DESIGN 2: ids are reference-counted)
// and a freed template's address, reused by a new one, is recognised as new.

#include "messages/output_template.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>

namespace fa::sinks {

template <class Plan>
class template_cache {
 public:
  /// The plan of `t`, built by `make(const ipfix::template_def&)` the first time. A hash
  /// look-up per set.
  template <class Make>
  const Plan& get(const messages::output_template_ptr& t, Make&& make) {
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
    e.plan = std::make_unique<Plan>(make(t->def));
    return *e.plan;
  }

  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::weak_ptr<const messages::output_template> tmpl;
    std::unique_ptr<Plan> plan;
  };
  std::unordered_map<const messages::output_template*, entry> entries_;
  std::size_t sweep_at_ = 64; ///< entries at which expired ones are removed next
};

} // namespace fa::sinks
