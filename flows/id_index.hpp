#pragma once

// An open-addressing index from 64-bit hashes to 32-bit ids, for the flow table and the
// string pool: 8 octets a slot, at most 3/4 full, linear probing, backward-shift
// deletion (no tombstones). A slot holds (low 32 bits of the hash << 32) | id; the low
// bits also pick the home slot, so growing touches no entry.

#include <cstdint>
#include <vector>

namespace fa::flows {

class id_index {
 public:
  static constexpr std::uint32_t none = 0xffffffff;

  /// The id whose hash is `h` and for which `same(id)` holds, or `none`.
  template <class Same>
  std::uint32_t find(std::uint64_t h, Same&& same) const {
    if (slots_.empty())
      return none;
    const auto tag = static_cast<std::uint32_t>(h);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == empty)
        return none;
      const auto id = static_cast<std::uint32_t>(s);
      if (static_cast<std::uint32_t>(s >> 32) == tag && same(id))
        return id;
    }
  }

  /// The first id found under `h`'s tag (the low 32 bits of `h`) before an empty slot,
  /// or `none`: `find`'s answer when `same` holds for it; none when `find` has none.
  std::uint32_t find_tag(std::uint64_t h) const {
    return find(h, [](std::uint32_t) { return true; });
  }

  /// Starts loading the home slot of `h` (the flow table's pipeline).
  void prefetch(std::uint64_t h) const {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[h & mask_]);
  }

  /// Adds `id` (not already present) under `h`.
  void insert(std::uint64_t h, std::uint32_t id);

  /// Removes `id`, which is present under `h`.
  void erase(std::uint64_t h, std::uint32_t id);

  std::size_t size() const { return size_; }
  std::size_t memory_bytes() const { return slots_.capacity() * sizeof(std::uint64_t); }
  /// Frees the slots.
  void clear();

 private:
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  void grow();

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

} // namespace fa::flows
