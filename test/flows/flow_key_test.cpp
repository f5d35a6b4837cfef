#include "flows/flow_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace fa::flows {
namespace {

flow_key key(std::uint8_t a, std::uint8_t b, std::uint16_t sp = 1, std::uint16_t dp = 2,
             std::uint8_t proto = 6) {
  const std::uint8_t s[4] = {10, 0, 0, a};
  const std::uint8_t d[4] = {10, 0, 0, b};
  return {ipv4_address(s), ipv4_address(d), sp, dp, proto};
}

TEST(flow_key, ipv4_is_stored_ipv4_mapped) {
  const std::uint8_t v4[4] = {10, 0, 0, 1};
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  // Go prints ::ffff:10.0.0.1 as 10.0.0.1, so Antrea's key does not tell them apart
  // (reference a); neither does ours.
  EXPECT_EQ(ipv4_address(v4), ipv6_address(mapped));
  EXPECT_TRUE(is_v4(ipv4_address(v4)));
  const std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_FALSE(is_v4(ipv6_address(v6)));
}

TEST(flow_key, every_member_is_part_of_the_key) {
  auto k = key(1, 2);
  EXPECT_EQ(k, key(1, 2));
  EXPECT_EQ(hash(k), hash(key(1, 2)));
  for (const auto& other :
       {key(2, 1), key(1, 3), key(1, 2, 2, 1), key(1, 2, 1, 3), key(1, 2, 1, 2, 17)}) {
    EXPECT_NE(k, other);
    EXPECT_NE(hash(k), hash(other)) << "swapped or changed members hash apart";
  }
}

TEST(flow_key, hash_spreads_over_the_low_bits) {
  // The index takes its slot from the low bits: consecutive ports and hosts must not
  // pile up there.
  std::set<std::uint64_t> slots;
  for (std::uint16_t p = 0; p < 1024; ++p)
    slots.insert(hash(key(1, 2, p)) & 1023);
  EXPECT_GT(slots.size(), 600u); // ~1024 * (1 - 1/e) = 647 for a random function
}

TEST(flow_key, shards_and_the_index_use_different_bits) {
  // The keys one shard owns must still spread over that shard's index (low bits).
  constexpr std::size_t shards = 4;
  std::set<std::uint64_t> slots_of_shard_0;
  std::size_t in_shard_0 = 0;
  for (std::uint16_t p = 0; p < 4096; ++p) {
    const auto h = hash(key(1, 2, p));
    ASSERT_LT(shard_of(h, shards), shards);
    if (shard_of(h, shards) == 0) {
      ++in_shard_0;
      slots_of_shard_0.insert(h & 255);
    }
  }
  EXPECT_GT(in_shard_0, 800u);
  EXPECT_LT(in_shard_0, 1250u);
  EXPECT_GT(slots_of_shard_0.size(), 240u) << "a shard's keys use all its index slots";
}

} // namespace
} // namespace fa::flows
