#pragma once

// Sequence-number accounting on the collecting side (RFC 7011 3.1, 10.3, 11.6): the
// number counts data records sent before this message, per (session, ODID), modulo 2^32.

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace fa::ipfix {

struct sequence_check {
  std::uint64_t lost = 0;    ///< records missing before this message (a gap ahead)
  bool out_of_order = false; ///< the message is behind what we expected
  /// The message's number is implausibly far from the expected one (see
  /// `sequence_tracker::plausible_jump`), or the numbering was resynchronised to a new
  /// position: neither loss nor reordering is counted for it.
  bool reset = false;
};

class sequence_tracker {
 public:
  /// The largest jump, in records, that counts as loss (ahead) or reordering (behind)
  /// for a message carrying `data_records` records: 2^24 records (about 17 s at a million
  /// records a second), or 65,536 messages of this message's size if that is more, and
  /// never more than 2^30 (a quarter of the number space; RFC 1982 serial arithmetic
  /// cannot order numbers 2^31 apart at all). A single forged or corrupted number must
  /// not add billions of lost records (RFC 7011 10.3.2 asks only that loss be detected).
  static std::uint32_t plausible_jump(std::uint32_t data_records);

  /// Observes a message with header sequence `seq` carrying `data_records` records.
  /// The first message of an ODID only sets the expectation. A message ahead of the
  /// expected number by at most `plausible_jump` counts the gap as lost and moves on; a
  /// message behind it by at most that is out of order and does not move the
  /// expectation back. A message farther away either way is a reset: counted apart,
  /// nothing lost, the expectation kept. The numbering then resynchronises to the new
  /// position only if the next message follows the reset one (the exporter restarted
  /// or really jumped); if it follows the old expectation, the reset message was a lone
  /// outlier (forged or corrupted) and the stream stays in order. (Messages shortly
  /// behind never resynchronise: over UDP consecutive messages may arrive late together.)
  sequence_check observe(std::uint32_t odid, std::uint32_t seq, std::uint32_t data_records);

  std::uint64_t lost_records() const { return lost_; }
  std::uint64_t out_of_order_messages() const { return out_of_order_; }
  std::uint64_t resets() const { return resets_; }
  /// The next expected sequence number of `odid`, if known.
  bool expected(std::uint32_t odid, std::uint32_t& out) const;
  void forget(std::uint32_t odid) { state_.erase(odid); }

 private:
  struct domain {
    std::uint32_t expected = 0;
    /// Where the numbering continues if the last reset message was the exporter's own
    /// new position.
    std::optional<std::uint32_t> candidate;
  };
  std::unordered_map<std::uint32_t, domain> state_;
  std::uint64_t lost_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t resets_ = 0;
};

} // namespace fa::ipfix
