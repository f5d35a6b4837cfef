#pragma once

// The data that flows between actors. Every buffer is shared and immutable: a message
// carries pointers, never copies of record bytes, and one message carries many records
// (DESIGN 2).

#include "base/default_init_allocator.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"
#include "messages/chunk.hpp"
#include "messages/session_info.hpp"
#include "messages/template_plan.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace fa::messages {

/// listener -> agent_session: one read's worth of whole IPFIX messages.
struct frames {
  chunk_ptr data; ///< null when a UDP reader only reports counts
  /// UDP: datagrams of this session the reader dropped since its last report because a
  /// budget was spent (DESIGN 3) or they were malformed (RFC 7011 10.3.3). The reader
  /// has counted them in the metrics already; the session adds them to its status.
  std::uint64_t budget_drops = 0;
  std::uint64_t malformed_datagrams = 0;
};

/// One data set of a received message, validated: `records` records of `plan`.
struct data_slice {
  template_plan_ptr plan;
  ipfix::bytes_view body; ///< points into the batch's chunk; padding excluded
  std::uint32_t records = 0;
  /// Where its records' variable-length values start in the batch's `varlen`.
  std::uint32_t first_varlen = 0;
};

/// The variable-length values (RFC 7011 7) of every record of a batch, in record order,
/// `num_varlen()` of its template per record (none for a fixed template): found by the
/// session's one walk over each record, so that the enricher locates fields without
/// walking the records again (issue 15). They pin their octets in the session's budgets
/// like the chunk they describe (DESIGN 3); a copy pins its own.
class varlen_values {
 public:
  varlen_values() = default;
  varlen_values(const varlen_values& other)
      : values(other.values) {
    charge(other.credit_.budgets());
  }
  varlen_values& operator=(const varlen_values& other) {
    if (this != &other) {
      values = other.values;
      charge(other.credit_.budgets());
    }
    return *this;
  }
  varlen_values(varlen_values&&) noexcept = default;
  varlen_values& operator=(varlen_values&&) noexcept = default;

  /// Charges what `values` holds (its capacity) to `budgets`, instead of any earlier
  /// charge: once, when the values are all found.
  void charge(const session_budgets& budgets) {
    credit_ = credit{budgets, values.capacity() * sizeof(ipfix::field_slice)};
  }
  std::size_t charged() const { return credit_.size(); }

  std::vector<ipfix::field_slice> values;

 private:
  credit credit_;
};

/// agent_session -> enricher: the data sets of one chunk, in arrival order.
struct data_batch {
  session_info_ptr session;
  chunk_ptr data; ///< keeps `slices` valid and holds the session's credit
  std::vector<data_slice> slices;
  varlen_values varlen;

  /// The variable-length values of the records of `s`, one of `slices`.
  std::span<const ipfix::field_slice> varlen_of(const data_slice& s) const {
    const std::size_t n = std::size_t{s.records} * s.plan->layout.num_varlen();
    if (n == 0 || s.first_varlen + n > varlen.values.size())
      return {};
    return {varlen.values.data() + s.first_varlen, n};
  }
};

/// One data set of enriched records for one output template.
struct enriched_set {
  static constexpr std::uint32_t no_varlen = 0xffffffff;

  output_template_ptr tmpl;
  std::uint32_t offset = 0; ///< into enriched_payload::bytes
  std::uint32_t length = 0;
  std::uint32_t records = 0;
  /// Into enriched_payload::varlen: the first record's first variable-length value, or
  /// `no_varlen` when the payload carries none for this set.
  std::uint32_t varlen = no_varlen;
};

/// The encoded output of one data batch. Shared by every destination (fanout "all").
struct enriched_payload {
  /// Grown per record without zero-filling: each record is written whole right after.
  base::byte_buffer bytes;
  std::vector<enriched_set> sets;
  /// Where the variable-length values of the records lie (what
  /// `ipfix::record_layout::walk_varlen` gives: offsets from each record's start), record
  /// after record, for the sets whose `varlen` says so. The enricher writes them as it
  /// writes the records, when a destination reads fields (the aggregator shards,
  /// ClickHouse, flow log, JSON lines, flow stream; never for IPFIX destinations only),
  /// so those readers need not walk every record again.
  std::vector<ipfix::field_slice> varlen;
  std::uint64_t records = 0;
  session_info_ptr session;

  /// The variable-length values of the records of `s`, `per_record` (its template's
  /// number of variable-length fields) each; empty when not carried (walk the records).
  std::span<const ipfix::field_slice> varlen_of(const enriched_set& s,
                                                std::size_t per_record) const {
    const std::size_t n = std::size_t{s.records} * per_record;
    if (s.varlen == enriched_set::no_varlen || n == 0 || s.varlen > varlen.size() ||
        varlen.size() - s.varlen < n)
      return {};
    return {varlen.data() + s.varlen, n};
  }

  /// Octets this payload holds (charged to the exporter's budgets, DESIGN 3).
  std::size_t footprint() const {
    return bytes.capacity() + varlen.capacity() * sizeof(ipfix::field_slice);
  }
};

/// The payload's octets charged to the exporter session's budgets (DESIGN 3); the input
/// chunk is released as soon as it is enriched.
using payload_credit = std::shared_ptr<const credit>;

/// enricher -> exporter_session.
struct enriched_batch {
  std::shared_ptr<const enriched_payload> payload;
  /// Given only to destinations with on_full = "block", which keep it until they wrote
  /// or dropped the batch: the session's reader then pauses while the slowest of them
  /// catches up. A destination with on_full = "drop" gets none, as its own queue bound
  /// limits what it keeps: were it to hold the credit, a dead one would pin the budget
  /// before its queue ever filled, and stall every session and destination instead of
  /// dropping.
  payload_credit hold;
};

} // namespace fa::messages
