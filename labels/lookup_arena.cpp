#include "labels/lookup_arena.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

// Under AddressSanitizer the arena marks what it has not handed out as poisoned, so that
// reads past a block or after its release are still reported.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FA_ARENA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FA_ARENA_ASAN 1
#endif
#ifdef FA_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define FA_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FA_POISON(p, n) ((void)(p), (void)(n))
#define FA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace fa::labels {

namespace {

constexpr std::size_t huge_page = std::size_t{2} << 20;
/// Address space taken at a time; only what is touched becomes resident.
constexpr std::size_t region_size = std::size_t{32} << 20;
/// Up to this size, classes are 16 octets apart (Pod blocks are mostly 100-300 octets).
constexpr std::size_t small_max = 512;
constexpr std::size_t num_small = small_max / 16;
/// Above, powers of two up to this size (a shard's slots); larger goes to operator new.
constexpr std::size_t large_max = std::size_t{1} << 20;
constexpr std::size_t num_large = 11; // 1 KiB .. 1 MiB
constexpr std::size_t num_classes = num_small + num_large;

/// The class of a size, and the block size of a class.
std::size_t class_of(std::size_t n) {
  if (n <= small_max)
    return n == 0 ? 0 : (n - 1) / 16;
  std::size_t c = num_small, size = 1024;
  while (size < n) {
    size <<= 1;
    ++c;
  }
  return c;
}

std::size_t block_size(std::size_t c) {
  return c < num_small ? (c + 1) * 16 : std::size_t{1024} << (c - num_small);
}

struct arena {
  std::mutex mutex;
  std::array<std::vector<void*>, num_classes> free;
  std::array<std::size_t, num_classes> carved{}; ///< blocks of each class ever carved
  char* next = nullptr;                          ///< bump pointer in the current region
  char* end = nullptr;
  std::size_t reserved = 0;

  /// A new region, 2 MiB-aligned so that its pages can be huge ones.
  void grow() {
    auto* p = static_cast<char*>(mmap(nullptr, region_size + huge_page, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (p == MAP_FAILED)
      throw std::bad_alloc{};
    auto aligned = (reinterpret_cast<std::uintptr_t>(p) + huge_page - 1) & ~(huge_page - 1);
    next = reinterpret_cast<char*>(aligned);
    end = next + region_size;
    // Without huge pages (disabled, or none free) the arena still works, with 4 KiB ones.
    madvise(next, region_size, MADV_HUGEPAGE);
    FA_POISON(next, region_size);
    reserved += region_size;
  }

  void* carve(std::size_t size) {
    const std::size_t align = size >= 1024 ? 64 : 16;
    auto at = (reinterpret_cast<std::uintptr_t>(next) + align - 1) & ~(align - 1);
    if (!next || at + size > reinterpret_cast<std::uintptr_t>(end)) {
      grow();
      at = reinterpret_cast<std::uintptr_t>(next);
    }
    next = reinterpret_cast<char*>(at + size);
    return reinterpret_cast<void*>(at);
  }
};

/// Never destroyed: snapshots may be released during static destruction.
arena& the_arena() {
  static arena* a = new arena;
  return *a;
}

} // namespace

void* lookup_arena_allocate(std::size_t n) {
  if (n > large_max)
    return ::operator new (n, std::align_val_t{64});
  auto c = class_of(n);
  auto& a = the_arena();
  void* p;
  {
    std::lock_guard lock{a.mutex};
    auto& list = a.free[c];
    if (!list.empty()) {
      p = list.back();
      list.pop_back();
    } else {
      p = a.carve(block_size(c));
      // Room for every carved block on its free list, taken now (the list is empty, so
      // nothing moves) so that a release cannot fail for lack of memory.
      if (list.capacity() < ++a.carved[c])
        list.reserve(std::max<std::size_t>(16, 2 * a.carved[c]));
    }
  }
  FA_UNPOISON(p, n == 0 ? 1 : n);
  return p;
}

void lookup_arena_deallocate(void* p, std::size_t n) noexcept {
  if (!p)
    return;
  if (n > large_max) {
    ::operator delete (p, std::align_val_t{64});
    return;
  }
  auto c = class_of(n);
  FA_POISON(p, block_size(c));
  auto& a = the_arena();
  std::lock_guard lock{a.mutex};
  a.free[c].push_back(p); // capacity reserved when the block was carved
}

std::size_t lookup_arena_reserved() noexcept {
  auto& a = the_arena();
  std::lock_guard lock{a.mutex};
  return a.reserved;
}

} // namespace fa::labels
