#pragma once

// Memory for what the enrichers read on every record: the shards' slot arrays and the
// Pods' `wire` blocks (pod_snapshot.hpp). With 100,000 Pods these are about 20 MiB,
// read at random twice per record. In 4 KiB pages that is thousands of pages, far more
// than the TLB holds, and each record's lookups then wait for page walks (which cost
// several times a cache miss inside a virtual machine). The arena hands out blocks from
// regions marked for transparent huge pages (madvise MADV_HUGEPAGE), so the same data
// sits in a handful of 2 MiB pages.
//
// Blocks are kept in free lists by size class and reused; the regions are never
// returned to the system (the index's size follows the cluster's, and a shard copy
// frees a block of the size the next copy needs). Thread-safe: one mutex, taken when a
// Pod event or a snapshot's release allocates or frees, never on the lookup path.

#include <cstddef>

namespace fa::labels {

/// A block of at least `n` octets, 16-aligned (64-aligned from 64 octets up). Throws
/// std::bad_alloc when the system has no memory.
void* lookup_arena_allocate(std::size_t n);

/// Returns a block `lookup_arena_allocate(n)` gave, with the same `n`.
void lookup_arena_deallocate(void* p, std::size_t n) noexcept;

/// Octets the arena holds for blocks in use or free, in all regions (for tests).
std::size_t lookup_arena_reserved() noexcept;

/// A standard allocator over the arena.
template <class T>
struct lookup_allocator {
  using value_type = T;
  lookup_allocator() noexcept = default;
  template <class U>
  lookup_allocator(const lookup_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(lookup_arena_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { lookup_arena_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const lookup_allocator<U>&) const noexcept {
    return true;
  }
};

} // namespace fa::labels
