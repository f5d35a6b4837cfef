#include "ipfix/sequence_tracker.hpp"

#include <gtest/gtest.h>

namespace fa::ipfix {
namespace {

TEST(sequence_tracker, first_message_sets_the_expectation) {
  sequence_tracker t;
  std::uint32_t next = 0;
  EXPECT_FALSE(t.expected(1, next));
  auto c = t.observe(1, 1000, 5);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_FALSE(c.out_of_order);
  ASSERT_TRUE(t.expected(1, next));
  EXPECT_EQ(next, 1005u);
}

TEST(sequence_tracker, in_order_messages_lose_nothing) {
  sequence_tracker t;
  t.observe(1, 0, 10);
  t.observe(1, 10, 0); // a template-only message does not move the number
  auto c = t.observe(1, 10, 3);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_FALSE(c.out_of_order);
  EXPECT_EQ(t.observe(1, 13, 1).lost, 0u);
  EXPECT_EQ(t.lost_records(), 0u);
  EXPECT_EQ(t.out_of_order_messages(), 0u);
}

TEST(sequence_tracker, gap_ahead_counts_lost_records) {
  sequence_tracker t;
  t.observe(1, 100, 10); // expect 110
  auto c = t.observe(1, 125, 5);
  EXPECT_EQ(c.lost, 15u);
  EXPECT_FALSE(c.out_of_order);
  EXPECT_EQ(t.lost_records(), 15u);
  std::uint32_t next = 0;
  ASSERT_TRUE(t.expected(1, next));
  EXPECT_EQ(next, 130u);
  t.observe(1, 140, 1);
  EXPECT_EQ(t.lost_records(), 25u);
}

TEST(sequence_tracker, message_behind_is_out_of_order_and_does_not_resynchronise) {
  sequence_tracker t;
  t.observe(1, 100, 10); // expect 110
  auto c = t.observe(1, 90, 10);
  EXPECT_TRUE(c.out_of_order);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_EQ(t.out_of_order_messages(), 1u);
  std::uint32_t next = 0;
  ASSERT_TRUE(t.expected(1, next));
  EXPECT_EQ(next, 110u); // not moved back to 100
  // The next message in order loses nothing.
  c = t.observe(1, 110, 1);
  EXPECT_FALSE(c.out_of_order);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_EQ(t.lost_records(), 0u);
}

TEST(sequence_tracker, wraps_around_at_2_pow_32) {
  sequence_tracker t;
  t.observe(1, 0xfffffff0u, 0x20); // expect 0x10
  std::uint32_t next = 0;
  ASSERT_TRUE(t.expected(1, next));
  EXPECT_EQ(next, 0x10u);
  auto c = t.observe(1, 0x10, 1);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_FALSE(c.out_of_order);

  sequence_tracker gap;
  gap.observe(1, 0xfffffffeu, 0); // expect 0xfffffffe
  c = gap.observe(1, 3, 0);
  EXPECT_EQ(c.lost, 5u); // fffffffe, ffffffff, 0, 1, 2
  EXPECT_FALSE(c.out_of_order);

  sequence_tracker behind;
  behind.observe(1, 2, 0);
  c = behind.observe(1, 0xfffffffcu, 0); // 6 behind, across the wrap
  EXPECT_TRUE(c.out_of_order);
  EXPECT_EQ(behind.lost_records(), 0u);
}

TEST(sequence_tracker, half_the_number_space_ahead_is_behind) {
  sequence_tracker t;
  t.observe(1, 0, 0);
  EXPECT_EQ(t.observe(1, 0x7fffffffu, 0).lost, 0x7fffffffu);
  sequence_tracker u;
  u.observe(1, 0, 0);
  EXPECT_TRUE(u.observe(1, 0x80000000u, 0).out_of_order);
}

TEST(sequence_tracker, odids_are_tracked_apart_and_can_be_forgotten) {
  sequence_tracker t;
  t.observe(1, 100, 10);
  t.observe(2, 5000, 1);
  EXPECT_EQ(t.observe(1, 110, 0).lost, 0u);
  EXPECT_EQ(t.observe(2, 5001, 0).lost, 0u);
  t.forget(1);
  std::uint32_t next = 0;
  EXPECT_FALSE(t.expected(1, next));
  // After forgetting, the next message only sets the expectation again.
  EXPECT_EQ(t.observe(1, 9999, 1).lost, 0u);
  EXPECT_EQ(t.lost_records(), 0u);
}

} // namespace
} // namespace fa::ipfix
