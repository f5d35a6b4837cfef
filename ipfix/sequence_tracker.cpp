#include "ipfix/sequence_tracker.hpp"

#include <algorithm>

namespace fa::ipfix {

std::uint32_t sequence_tracker::plausible_jump(std::uint32_t data_records) {
  constexpr std::uint64_t floor = std::uint64_t{1} << 24;
  constexpr std::uint64_t ceiling = std::uint64_t{1} << 30;
  constexpr std::uint64_t messages = 65536;
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(messages * data_records, floor, ceiling));
}

sequence_check sequence_tracker::observe(std::uint32_t odid, std::uint32_t seq,
                                         std::uint32_t data_records) {
  auto [it, first] = state_.try_emplace(odid);
  auto& d = it->second;
  const std::uint32_t next = seq + data_records;
  if (first) {
    d.expected = next;
    return {};
  }
  const std::uint32_t bound = plausible_jump(data_records);
  // RFC 7011 10.3 / RFC 1982: numbers count modulo 2^32, so the distance either way is
  // an unsigned difference; at most one of the two is within `bound` (< 2^31).
  const std::uint32_t ahead = seq - d.expected;
  const std::uint32_t behind = d.expected - seq;
  if (ahead <= bound) {
    lost_ += ahead;
    d.expected = next;
    d.candidate.reset();
    return {ahead, false, false};
  }
  // The last reset message was not an outlier: this one follows it, so the exporter's
  // numbering moved (a restart, a jump). Resynchronise (the reset is counted already);
  // a gap after the new position is loss again.
  if (d.candidate && seq - *d.candidate <= bound) {
    const std::uint32_t gap = seq - *d.candidate;
    lost_ += gap;
    d.expected = next;
    d.candidate.reset();
    return {gap, false, false};
  }
  if (behind <= bound) {
    ++out_of_order_;
    return {0, true, false};
  }
  // Implausible either way: a reset, counted apart; the expectation stays until the
  // next message shows which numbering is the exporter's.
  ++resets_;
  d.candidate = next;
  return {0, false, true};
}

bool sequence_tracker::expected(std::uint32_t odid, std::uint32_t& out) const {
  auto it = state_.find(odid);
  if (it == state_.end())
    return false;
  out = it->second.expected;
  return true;
}

} // namespace fa::ipfix
