#pragma once

// flow_plans by output template: built on a template's first set, reused for every later
// set of it. Keyed by the template object and holding it weakly, so that a destination
// never keeps a template id reserved (DESIGN 2: ids are reference-counted) and a freed
// template's address, reused by a new one, is recognised as new.

#include "messages/output_template.hpp"
#include "sinks/flow_record.hpp"

#include <memory>
#include <unordered_map>

namespace fa::sinks {

class flow_plan_cache {
 public:
  /// The plan of `t`'s records. A hash look-up per set; a plan is built once per template.
  const flow_plan& plan(const messages::output_template_ptr& t);

  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::weak_ptr<const messages::output_template> tmpl;
    std::unique_ptr<flow_plan> plan;
  };
  std::unordered_map<const messages::output_template*, entry> entries_;
  std::size_t sweep_at_ = 64; ///< entries at which expired ones are removed next
};

} // namespace fa::sinks
