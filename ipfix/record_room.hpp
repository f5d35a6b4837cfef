#pragma once

// The one rule that sizes the room for variable-length values a walk reserves ahead
// (issue 15): `slice_records`, `slice_records_in_place` and the agent session's batch
// all reserve by it, so the batch's vector never regrows while its sets are walked.

#include "ipfix/record.hpp"

#include <cstddef>

namespace fa::ipfix {

/// Entries of room for the variable-length values of as many records of `layout` as
/// `octets` could hold (each at least `min_length()`; a template without fields has none).
inline std::size_t room_for(std::size_t octets, const record_layout& layout) {
  return layout.min_length() == 0 ? 0 : octets / layout.min_length() * layout.num_varlen();
}

} // namespace fa::ipfix
