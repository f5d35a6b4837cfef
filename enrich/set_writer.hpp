#pragma once

// Appends records of one output template to an enriched payload as data sets no larger
// than a bound, so every set fits a destination's message whole (RFC 7011 3.3: a set
// never spans messages). The caller writes each record's octets itself, between
// begin_record and end_record, and, when the writer carries them, the record's
// variable-length values (appended to `payload.varlen` in template order, offsets from
// the record's start), which the readers of fields then need not find by walking the
// record again.

#include "messages/batches.hpp"

#include <cstddef>
#include <cstdint>

namespace fa::enrich {

struct set_writer {
  set_writer(messages::enriched_payload& p, const messages::output_template_ptr& t, std::size_t max,
             bool varlen = false)
      : payload(p)
      , tmpl(t)
      , max_body(max)
      , with_varlen(varlen) {}

  messages::enriched_payload& payload;
  const messages::output_template_ptr& tmpl;
  std::size_t max_body; ///< largest set body, in octets
  /// Each record's variable-length values go into `payload.varlen` (enriched_payload).
  bool with_varlen;
  std::size_t start = 0;
  std::uint32_t first_varlen = 0; ///< the open set's first entry in `payload.varlen`
  std::uint32_t records = 0;
  bool open = false;

  /// Before a record of `record_size` octets is appended: closes the set when the record
  /// would not fit in it, and opens one when none is.
  void begin_record(std::size_t record_size) {
    if (open && payload.bytes.size() - start + record_size > max_body)
      close();
    if (!open) {
      start = payload.bytes.size();
      first_varlen = static_cast<std::uint32_t>(payload.varlen.size());
      records = 0;
      open = true;
    }
  }
  void end_record() { ++records; }
  /// Describes the open set in the payload (nothing when it holds no record).
  void close() {
    if (open && records > 0)
      payload.sets.push_back({tmpl, static_cast<std::uint32_t>(start),
                              static_cast<std::uint32_t>(payload.bytes.size() - start), records,
                              with_varlen ? first_varlen : messages::enriched_set::no_varlen});
    open = false;
  }
};

} // namespace fa::enrich
