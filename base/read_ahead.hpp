#pragma once

// Starts loading a buffer's cache lines a fixed distance ahead of a walk over it. The
// records a session walks were written by the kernel on the I/O thread, and the records
// a shard reads by the enricher, often on the other core: the walk's first touch of each
// record waited for it, and the walk cannot run ahead by itself because where the next
// value lies depends on the length just read (issue 11 profile: slice_records, add_set).

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace fa::base {

class read_ahead {
 public:
  /// How far ahead of the walk: about three enriched records.
  static constexpr std::size_t distance = 1024;

  read_ahead(const std::uint8_t* data, std::size_t size)
      : data_(data)
      , size_(size) {}

  /// The walk reached `pos`: starts loading up to `distance` octets beyond it.
  void reached(std::size_t pos) {
    for (const std::size_t to = std::min(pos + distance, size_); loaded_ < to; loaded_ += 64)
      __builtin_prefetch(data_ + loaded_);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t loaded_ = 0; ///< octets whose loads have been started
};

} // namespace fa::base
