#include "flows/id_index.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace fa::flows {
namespace {

// Random inserts and erases against a std::map, with colliding hashes so runs form and
// the backward-shift deletion is exercised across the wrap of the slot array.
TEST(id_index, agrees_with_a_map_under_churn) {
  id_index index;
  std::map<std::uint32_t, std::uint64_t> model; // id -> hash
  std::mt19937_64 rng(7);
  for (int step = 0; step < 60000; ++step) {
    const auto id = static_cast<std::uint32_t>(rng() % 2000);
    // Few distinct low bits: long runs. The high bits tell ids apart.
    const std::uint64_t h = (std::uint64_t{id} << 32) | (rng() % 64) | 0xffff0000u;
    auto it = model.find(id);
    if (it == model.end()) {
      index.insert(h, id);
      model[id] = h;
    } else {
      index.erase(it->second, id);
      model.erase(it);
    }
    if (step % 3000 == 0) {
      for (const auto& [mid, mh] : model) {
        const std::uint32_t want = mid;
        ASSERT_EQ(index.find(mh, [&](std::uint32_t x) { return x == want; }), want);
      }
      ASSERT_EQ(index.size(), model.size());
    }
  }
  for (auto [mid, mh] : model)
    index.erase(mh, mid);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.find(1, [](std::uint32_t) { return true; }), id_index::none);
  index.clear();
  EXPECT_EQ(index.memory_bytes(), 0u);
}

} // namespace
} // namespace fa::flows
