#include "ipfix/sequence_tracker.hpp"

namespace fa::ipfix {

sequence_check sequence_tracker::observe(std::uint32_t odid, std::uint32_t seq,
                                         std::uint32_t data_records) {
  auto [it, first] = expected_.try_emplace(odid, 0);
  if (first) {
    it->second = seq + data_records;
    return {};
  }
  // RFC 7011 10.3: sequence numbers count modulo 2^32. A distance below 2^31 is ahead of
  // the expectation (records were lost); anything else is behind (out of order).
  const std::uint32_t distance = seq - it->second;
  if (distance >= 0x80000000u) {
    ++out_of_order_;
    return {0, true};
  }
  lost_ += distance;
  it->second = seq + data_records;
  return {distance, false};
}

bool sequence_tracker::expected(std::uint32_t odid, std::uint32_t& out) const {
  auto it = expected_.find(odid);
  if (it == expected_.end())
    return false;
  out = it->second;
  return true;
}

} // namespace fa::ipfix
