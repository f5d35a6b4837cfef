#include "flows/record_arena.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace fa::flows {
namespace {

TEST(record_arena, blocks_of_one_size_class_are_reused) {
  record_arena a;
  auto* p = a.allocate(100);
  std::memset(p, 0xab, 100);
  EXPECT_EQ(a.used_bytes(), 104u);
  a.release(p, 100);
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.allocate(97), p) << "97 and 100 octets share the 104-octet class";
  auto* q = a.allocate(100);
  EXPECT_NE(q, p);
  EXPECT_EQ(a.reserved_bytes(), record_arena::chunk_size);
}

TEST(record_arena, blocks_do_not_overlap_and_chunks_grow) {
  record_arena a;
  std::vector<std::pair<std::uint8_t*, std::size_t>> blocks;
  for (std::size_t i = 0; i < 20000; ++i) {
    std::size_t n = 1 + (i * 37) % 500;
    auto* p = a.allocate(n);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 8, 0u);
    std::memset(p, static_cast<int>(i & 0xff), n);
    blocks.emplace_back(p, n);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    for (std::size_t k = 0; k < blocks[i].second; ++k)
      ASSERT_EQ(blocks[i].first[k], static_cast<std::uint8_t>(i & 0xff)) << i;
  EXPECT_GT(a.reserved_bytes(), record_arena::chunk_size);
  EXPECT_GE(a.reserved_bytes(), a.used_bytes());
  for (auto [p, n] : blocks)
    a.release(p, n);
  EXPECT_EQ(a.used_bytes(), 0u);
  a.clear();
  EXPECT_EQ(a.reserved_bytes(), 0u);
}

TEST(record_arena, a_chunk_tail_is_not_wasted) {
  record_arena a;
  // Fill a chunk up to 64 octets short, then ask for more than fits.
  std::size_t left = record_arena::chunk_size - 64;
  while (left > 0) {
    std::size_t n = std::min<std::size_t>(left, 60000);
    a.allocate(n);
    left -= n;
  }
  auto* big = a.allocate(128); // a new chunk; the 64-octet tail goes to its free list
  EXPECT_EQ(a.reserved_bytes(), 2 * record_arena::chunk_size);
  auto* tail = a.allocate(64);
  EXPECT_NE(tail, big);
  EXPECT_EQ(a.reserved_bytes(), 2 * record_arena::chunk_size) << "served from the tail";
}

} // namespace
} // namespace fa::flows
