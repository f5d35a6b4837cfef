#pragma once

// Sequence-number accounting on the collecting side (RFC 7011 3.1, 10.3, 11.6): the
// number counts data records sent before this message, per (session, ODID), modulo 2^32.

#include <cstdint>
#include <unordered_map>

namespace fa::ipfix {

struct sequence_check {
  std::uint64_t lost = 0;    ///< records missing before this message (a gap ahead)
  bool out_of_order = false; ///< the message is behind what we expected
};

class sequence_tracker {
 public:
  /// Observes a message with header sequence `seq` carrying `data_records` records.
  /// The first message of an ODID only sets the expectation. A message ahead of the
  /// expected number counts the gap as lost and moves on; a message behind it is
  /// counted out of order and does not move the expectation back: nothing is
  /// silently resynchronised.
  sequence_check observe(std::uint32_t odid, std::uint32_t seq, std::uint32_t data_records);

  std::uint64_t lost_records() const { return lost_; }
  std::uint64_t out_of_order_messages() const { return out_of_order_; }
  /// The next expected sequence number of `odid`, if known.
  bool expected(std::uint32_t odid, std::uint32_t& out) const;
  void forget(std::uint32_t odid) { expected_.erase(odid); }

 private:
  std::unordered_map<std::uint32_t, std::uint32_t> expected_;
  std::uint64_t lost_ = 0;
  std::uint64_t out_of_order_ = 0;
};

} // namespace fa::ipfix
