#pragma once

// A fixed-size log-linear histogram of nanosecond values: 8 sub-buckets per power of
// two (at most 12.5 % relative error), no allocation per value.

#include <array>
#include <bit>
#include <cstdint>

namespace fa::tools {

class latency_histogram {
 public:
  static constexpr int sub_bits = 3;

  void add(std::uint64_t ns) {
    ++counts_[bucket(ns)];
    ++total_;
    if (ns > max_)
      max_ = ns;
  }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  /// The value below which a fraction `q` (0..1) of the values lie, as the upper bound of
  /// its bucket (capped at the maximum seen). 0 when empty.
  std::uint64_t quantile(double q) const {
    if (total_ == 0)
      return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_)
      rank = total_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) {
        auto upper = upper_bound(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

  static std::size_t bucket(std::uint64_t v) {
    if (v < (1u << sub_bits))
      return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);
    auto sub = (v >> (msb - sub_bits)) & ((1u << sub_bits) - 1);
    return static_cast<std::size_t>((msb - sub_bits + 1) << sub_bits) + sub;
  }

  /// The largest value that falls in bucket `i`.
  static std::uint64_t upper_bound(std::size_t i) {
    if (i < (1u << sub_bits))
      return i;
    auto msb = static_cast<int>(i >> sub_bits) + sub_bits - 1;
    auto sub = i & ((1u << sub_bits) - 1);
    auto low = (std::uint64_t{1} << msb) | (std::uint64_t{sub} << (msb - sub_bits));
    return low + (std::uint64_t{1} << (msb - sub_bits)) - 1;
  }

 private:
  std::array<std::uint64_t, (64 - sub_bits + 1) << sub_bits> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

} // namespace fa::tools
