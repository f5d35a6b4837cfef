#pragma once

// Storage for the flow table's record bytes: blocks carved from large chunks, recycled
// through one free list per size class. A flow costs no heap allocation of its own and no
// allocator header, and freeing is O(1).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace fa::flows {

class record_arena {
 public:
  /// Blocks are multiples of this many octets.
  static constexpr std::size_t granule = 8;
  /// Chunks are this large (a larger block gets a chunk of its own size).
  static constexpr std::size_t chunk_size = std::size_t{1} << 20;

  record_arena() = default;
  record_arena(const record_arena&) = delete;
  record_arena& operator=(const record_arena&) = delete;

  /// A block of at least `n` (> 0) octets, 8-aligned.
  std::uint8_t* allocate(std::size_t n);

  /// Returns a block `allocate(n)` gave, with the same `n`.
  void release(std::uint8_t* p, std::size_t n);

  /// Frees every chunk; every block given out is invalid afterwards.
  void clear();

  /// Octets of the chunks held (what the arena costs).
  std::size_t reserved_bytes() const { return reserved_; }

  /// Octets of the blocks given out and not released.
  std::size_t used_bytes() const { return used_; }

 private:
  static std::size_t size_class(std::size_t n) { return (n + granule - 1) / granule; }
  /// Puts a block on its size class's free list (`used_` unchanged).
  void release_unused(std::uint8_t* p, std::size_t n);

  std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
  std::vector<std::uint8_t*> free_; ///< per size class: head of a list linked through blocks
  std::uint8_t* cursor_ = nullptr;  ///< bump pointer into the newest chunk
  std::size_t left_ = 0;            ///< octets left after `cursor_`
  std::size_t reserved_ = 0;
  std::size_t used_ = 0;
};

} // namespace fa::flows
