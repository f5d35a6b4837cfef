#pragma once

// Output template ids shared by every session (DESIGN 2: identical definitions from
// different agents share one id). Sessions call `intern` once per template definition,
// synchronously: the very next set of the same message may already use the template,
// so an asynchronous round trip to an actor would force every session to buffer. The
// template_registry actor owns the table for inspection.

#include "messages/output_template.hpp"

#include <prometheus/gauge.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace fa::actors {

class output_template_table : public std::enable_shared_from_this<output_template_table> {
 public:
  /// Ids from 256 (RFC 7011 3.4.1) to `last_id`; tests take fewer to reach exhaustion
  /// through the very same path.
  explicit output_template_table(std::uint16_t last_id = 0xffff)
      : last_id_(last_id) {}

  /// The shared output template with this layout (fields and scope; the id of `layout`
  /// is ignored). nullptr when every id is in use (65,280 of them).
  messages::output_template_ptr intern(const ipfix::template_def& layout);

  std::size_t size() const;

  /// Copies of the live templates, for inspection.
  std::vector<messages::output_template_ptr> live() const;
  /// Keeps `gauge` (flow_aggregator_templates_out) at size(): set when a template is
  /// interned or released, never per record. Call before the table is shared.
  void count_in(prometheus::Gauge* gauge) { gauge_ = gauge; }

 private:
  void release(std::uint16_t id, const ipfix::template_def& layout);

  struct layout_less {
    bool operator()(const ipfix::template_def& a, const ipfix::template_def& b) const;
  };

  mutable std::mutex mtx_;
  std::map<ipfix::template_def, std::weak_ptr<const messages::output_template>, layout_less>
      by_layout_;
  std::deque<std::uint16_t> free_ids_; ///< freed ids, oldest first
  std::uint32_t next_id_ = 256;
  std::uint32_t last_id_;
  prometheus::Gauge* gauge_ = nullptr;
};

} // namespace fa::actors
