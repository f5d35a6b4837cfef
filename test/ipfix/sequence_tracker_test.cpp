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

TEST(sequence_tracker, plausible_jump_is_bounded) {
  EXPECT_EQ(sequence_tracker::plausible_jump(0), 1u << 24);
  EXPECT_EQ(sequence_tracker::plausible_jump(30), 1u << 24);
  EXPECT_EQ(sequence_tracker::plausible_jump(1000), 65536u * 1000);
  EXPECT_EQ(sequence_tracker::plausible_jump(65535), 1u << 30);
}

// Issue 16 defect 9: one forged number (0x7ffffff0) between in-order messages added
// about 2^31 lost records and made every later message "out of order".
TEST(sequence_tracker, one_forged_number_is_a_reset_and_the_stream_stays_in_order) {
  sequence_tracker t;
  t.observe(1, 0, 10);
  t.observe(1, 10, 10); // expect 20
  auto forged = t.observe(1, 0x7ffffff0u, 6);
  EXPECT_TRUE(forged.reset);
  EXPECT_EQ(forged.lost, 0u);
  EXPECT_FALSE(forged.out_of_order);
  for (std::uint32_t seq = 20; seq < 200; seq += 10) {
    auto c = t.observe(1, seq, 10);
    EXPECT_EQ(c.lost, 0u) << seq;
    EXPECT_FALSE(c.out_of_order) << seq;
    EXPECT_FALSE(c.reset) << seq;
  }
  EXPECT_EQ(t.lost_records(), 0u);
  EXPECT_EQ(t.out_of_order_messages(), 0u);
  EXPECT_EQ(t.resets(), 1u);
  // Genuine loss after the forgery is still counted, exactly.
  EXPECT_EQ(t.observe(1, 250, 10).lost, 50u);
  EXPECT_EQ(t.lost_records(), 50u);
}

TEST(sequence_tracker, a_number_far_behind_is_a_reset_not_out_of_order) {
  sequence_tracker t;
  t.observe(1, 0x90000000u, 10);
  auto c = t.observe(1, 0x10000000u, 10); // 2^31 behind: no order is defined
  EXPECT_TRUE(c.reset);
  EXPECT_FALSE(c.out_of_order);
  EXPECT_EQ(t.observe(1, 0x9000000au, 1).lost, 0u);
  EXPECT_EQ(t.out_of_order_messages(), 0u);
  EXPECT_EQ(t.lost_records(), 0u);
}

TEST(sequence_tracker, a_jump_the_next_message_follows_resynchronises) {
  // The exporter restarted (or really jumped): the reset is counted once, and from the
  // new position on gaps are loss again.
  sequence_tracker t;
  t.observe(1, 3'000'000'000u, 10);
  auto reset = t.observe(1, 0, 10);
  EXPECT_TRUE(reset.reset);
  auto c = t.observe(1, 10, 10);
  EXPECT_FALSE(c.reset);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_FALSE(c.out_of_order);
  std::uint32_t next = 0;
  ASSERT_TRUE(t.expected(1, next));
  EXPECT_EQ(next, 20u);
  EXPECT_EQ(t.observe(1, 25, 5).lost, 5u);
  EXPECT_FALSE(t.observe(1, 30, 1).out_of_order);
  EXPECT_EQ(t.resets(), 1u);
  EXPECT_EQ(t.lost_records(), 5u);
  EXPECT_EQ(t.out_of_order_messages(), 0u);
}

TEST(sequence_tracker, genuine_loss_up_to_the_bound_is_counted) {
  sequence_tracker t;
  t.observe(1, 0, 100);
  auto c = t.observe(1, 100 + (1u << 24), 100);
  EXPECT_FALSE(c.reset);
  EXPECT_EQ(c.lost, 1u << 24);
  // One more than the bound is a reset.
  sequence_tracker u;
  u.observe(1, 0, 1);
  EXPECT_TRUE(u.observe(1, 1 + (1u << 24) + 1, 1).reset);
  EXPECT_EQ(u.lost_records(), 0u);
}

TEST(sequence_tracker, consecutive_late_messages_stay_out_of_order) {
  // UDP: messages may arrive late together; two in a row behind must not resynchronise.
  sequence_tracker t;
  t.observe(1, 80, 10);  // expect 90
  t.observe(1, 110, 10); // lost 20, expect 120
  EXPECT_TRUE(t.observe(1, 90, 10).out_of_order);
  EXPECT_TRUE(t.observe(1, 100, 10).out_of_order);
  auto c = t.observe(1, 120, 10);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_FALSE(c.out_of_order);
  EXPECT_EQ(t.resets(), 0u);
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
