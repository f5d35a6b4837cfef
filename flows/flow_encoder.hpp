#pragma once

// Writes exported flows as data records of their aggregate output template
// (aggregate_layout.hpp): the agent's fields, the 24 aggregation elements in template
// order, the appended fields. Records are grouped into data set bodies by template.

#include "base/default_init_allocator.hpp"
#include "flows/flow_table.hpp"
#include "ipfix/message.hpp"

#include <cstdint>
#include <vector>

namespace fa::flows {

/// One data set body the encoder wrote: `records` records of `layout->output`.
struct encoded_set {
  aggregate_layout_ptr layout;
  std::uint32_t offset = 0; ///< into the output bytes
  std::uint32_t length = 0;
  std::uint32_t records = 0;
};

class flow_encoder {
 public:
  /// `max_set_body`: the most octets of records one set may carry (a destination's
  /// message size less the message and set headers).
  explicit flow_encoder(std::size_t max_set_body = ipfix::max_record_length);

  /// Octets of the aggregate record of `f`.
  static std::size_t record_size(const flow_view& f) {
    const std::size_t t = f.tcp_state.size();
    return f.fixed.size() + f.strings.size() +
           (f.layout->tcp_state_apart ? t + (t < 255 ? 1 : 3) : 0) + aggregation_block_size;
  }

  /// Writes the aggregate record of `f` at `out` (`record_size(f)` octets); returns the
  /// end.
  static std::uint8_t* write(const flow_view& f, std::uint8_t* out);

  /// Stages the record of `f`: call from `flow_sink::on_export`. A record larger than
  /// `max_set_body` is not staged and is counted (`num_too_large`).
  void add(const flow_view& f);

  /// Appends the staged records to `out` as set bodies, one template per set and at most
  /// `max_set_body` octets each, describes them in `sets`, and empties the stage. Buffers
  /// are kept: steady state allocates nothing.
  void finish(base::byte_buffer& out, std::vector<encoded_set>& sets);

  std::size_t staged_records() const { return staged_; }
  std::size_t staged_bytes() const { return staged_bytes_; }
  std::uint64_t num_too_large() const { return too_large_; }

 private:
  /// The records of one template since the last `finish`.
  struct stage {
    aggregate_layout_ptr layout;
    std::vector<std::uint8_t> bytes;
    std::vector<encoded_set> closed; ///< offsets into `bytes`
    std::uint32_t open_start = 0;
    std::uint32_t open_records = 0;
  };

  stage& stage_for(const aggregate_layout_ptr& layout);

  std::size_t max_body_;
  std::vector<stage> stages_;
  std::size_t last_ = 0; ///< the stage used last: consecutive flows mostly share one
  std::size_t staged_ = 0;
  std::size_t staged_bytes_ = 0;
  std::uint64_t too_large_ = 0;
};

} // namespace fa::flows
