#include "ipfix/message.hpp"

#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

namespace fa::ipfix {
namespace {

using test::bytes;

bytes header_only(std::uint32_t export_time = 1700000000, std::uint32_t seq = 42,
                  std::uint32_t odid = 7) {
  bytes out;
  message_builder b(out);
  b.begin_message(export_time, seq, odid);
  b.end_message();
  return out;
}

TEST(message, header_only_message_is_valid_with_zero_sets) {
  auto msg = header_only();
  ASSERT_EQ(msg.size(), message_header_size);
  message_view view;
  ASSERT_EQ(message_view::parse(msg, view), parse_error::none);
  EXPECT_EQ(view.num_sets(), 0u);
  EXPECT_EQ(view.header().version, ipfix_version);
  EXPECT_EQ(view.header().length, 16);
  EXPECT_EQ(view.header().export_time, 1700000000u);
  EXPECT_EQ(view.header().sequence, 42u);
  EXPECT_EQ(view.header().observation_domain_id, 7u);
  EXPECT_EQ(view.bytes().size(), 16u);
}

TEST(message, peek_header_reads_fields_without_validating) {
  auto msg = header_only(1, 2, 3);
  msg[1] = 9; // version 9: peek does not care
  auto h = peek_header(msg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->version, 9);
  EXPECT_EQ(h->length, 16);
  EXPECT_EQ(h->export_time, 1u);
  EXPECT_EQ(h->sequence, 2u);
  EXPECT_EQ(h->observation_domain_id, 3u);
  EXPECT_FALSE(peek_header(bytes_view(msg).first(15)).has_value());
}

// The agent session's look at the next message (issue 15): the first set only when the
// message's length covers it and the message lies inside the octets given.
TEST(message, peek_first_set_only_within_the_message_and_the_octets) {
  bytes msg;
  message_builder b(msg);
  b.begin_message(1, 2, 3);
  b.begin_set(300);
  b.put_u8(7);
  b.put_u8(8);
  b.end_set();
  b.end_message();
  auto set = peek_first_set(msg);
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->id, 300);
  EXPECT_EQ(bytes(set->body.begin(), set->body.end()), (bytes{7, 8}));
  EXPECT_FALSE(peek_first_set(bytes_view(msg).first(msg.size() - 1)).has_value());
  EXPECT_FALSE(peek_first_set(bytes_view(msg).first(19)).has_value());
  auto with_length = [&](std::uint16_t message_length, std::uint16_t set_length) {
    auto m = msg;
    write_u16(m.data() + 2, message_length);
    write_u16(m.data() + 18, set_length);
    return peek_first_set(m);
  };
  EXPECT_TRUE(with_length(22, 6).has_value());
  EXPECT_FALSE(with_length(5, 6).has_value());  // below the header: not wrapped around
  EXPECT_FALSE(with_length(19, 3).has_value()); // below the first set header
  EXPECT_FALSE(with_length(22, 7).has_value()); // the set past the message
  EXPECT_FALSE(with_length(22, 3).has_value()); // a set shorter than its header
  EXPECT_FALSE(with_length(23, 7).has_value()); // the message past the octets
}

TEST(message, fewer_than_16_octets_is_short_header) {
  auto msg = header_only();
  message_view view;
  EXPECT_EQ(message_view::parse(bytes_view(msg).first(15), view), parse_error::short_header);
  EXPECT_EQ(message_view::parse(bytes_view{}, view), parse_error::short_header);
}

TEST(message, version_other_than_10_is_rejected) {
  for (std::uint16_t version : {0, 5, 9, 11, 0x0a00}) {
    auto msg = header_only();
    write_u16(msg.data(), version);
    message_view view;
    EXPECT_EQ(message_view::parse(msg, view), parse_error::bad_version) << version;
  }
}

TEST(message, length_shorter_than_header_is_rejected) {
  for (std::uint16_t len : {0, 1, 15}) {
    auto msg = header_only();
    write_u16(msg.data() + 2, len);
    message_view view;
    EXPECT_EQ(message_view::parse(msg, view), parse_error::bad_message_length) << len;
  }
}

TEST(message, length_longer_than_bytes_is_rejected) {
  auto msg = header_only();
  write_u16(msg.data() + 2, 17);
  message_view view;
  EXPECT_EQ(message_view::parse(msg, view), parse_error::bad_message_length);
}

TEST(message, octets_past_the_length_are_ignored_by_parse_but_not_by_parse_datagram) {
  auto msg = test::one_set_message(300, [](message_builder& b) { b.put_u32(1); });
  const auto len = msg.size();
  msg.push_back(0xab);
  msg.push_back(0xcd);
  message_view view;
  ASSERT_EQ(message_view::parse(msg, view), parse_error::none);
  EXPECT_EQ(view.bytes().size(), len);
  EXPECT_EQ(view.num_sets(), 1u);
  message_view dgram;
  EXPECT_EQ(message_view::parse_datagram(msg, dgram), parse_error::bad_message_length);
  msg.resize(len);
  EXPECT_EQ(message_view::parse_datagram(msg, dgram), parse_error::none);
  EXPECT_EQ(dgram.bytes().size(), len);
}

TEST(message, parse_datagram_reports_header_errors_first) {
  auto msg = header_only();
  msg[1] = 9;
  message_view view;
  EXPECT_EQ(message_view::parse_datagram(msg, view), parse_error::bad_version);
}

TEST(message, several_sets_of_any_kind_in_one_message) {
  bytes msg;
  message_builder b(msg);
  b.begin_message(0, 0, 1);
  b.begin_set(template_set_id);
  b.add_template(test::make_template(256, {{8, 4}}));
  b.begin_set(300); // begin_set closes the open set
  b.put_u32(0x0a000001);
  b.begin_set(options_template_set_id);
  b.add_template(test::make_template(257, {{149, 4}, {41, 8}}, 1));
  b.begin_set(256);
  b.put_u32(1);
  b.put_u32(2);
  b.begin_set(template_set_id);
  b.add_withdrawal(258);
  b.end_set(2);
  b.end_message();

  auto sets = test::sets_of(msg);
  ASSERT_EQ(sets.size(), 5u);
  message_view view;
  ASSERT_EQ(message_view::parse(msg, view), parse_error::none);
  EXPECT_EQ(view.num_sets(), 5u);
  EXPECT_EQ(sets[0].id, 2);
  EXPECT_EQ(sets[0].kind(), set_kind::template_set);
  EXPECT_EQ(sets[0].body.size(), 8u);
  EXPECT_EQ(sets[1].id, 300);
  EXPECT_EQ(sets[1].kind(), set_kind::data_set);
  EXPECT_EQ(sets[1].body.size(), 4u);
  EXPECT_EQ(sets[2].kind(), set_kind::options_template_set);
  EXPECT_EQ(sets[2].body.size(), 14u);
  EXPECT_EQ(sets[3].id, 256);
  EXPECT_EQ(sets[3].body.size(), 8u);
  EXPECT_EQ(sets[4].id, 2);
  EXPECT_EQ(sets[4].body.size(), 6u); // padding belongs to the body
}

TEST(message, set_with_only_a_header_is_valid) {
  auto msg = test::one_set_message(256, [](message_builder&) {});
  auto sets = test::sets_of(msg);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_TRUE(sets[0].body.empty());
}

TEST(message, set_length_below_4_is_rejected) {
  for (std::uint16_t len : {0, 1, 3}) {
    auto msg = test::one_set_message(256, [](message_builder& b) { b.put_u32(0); });
    write_u16(msg.data() + message_header_size + 2, len);
    message_view view;
    EXPECT_EQ(message_view::parse(msg, view), parse_error::bad_set_length) << len;
  }
}

TEST(message, set_running_past_its_message_is_rejected) {
  auto msg = test::one_set_message(256, [](message_builder& b) { b.put_u32(0); });
  write_u16(msg.data() + message_header_size + 2, 9); // 8 octets in the message
  message_view view;
  EXPECT_EQ(message_view::parse(msg, view), parse_error::set_overruns_message);
  // Also when the datagram holds more octets than the message length says.
  write_u16(msg.data() + message_header_size + 2, 8);
  write_u16(msg.data() + 2, 20);
  msg.push_back(0);
  EXPECT_EQ(message_view::parse(msg, view), parse_error::set_overruns_message);
}

TEST(message, octets_too_few_for_a_set_header_are_rejected) {
  for (std::size_t extra : {1, 2, 3}) {
    auto msg = header_only();
    msg.insert(msg.end(), extra, std::uint8_t{0});
    write_u16(msg.data() + 2, static_cast<std::uint16_t>(msg.size()));
    message_view view;
    EXPECT_EQ(message_view::parse(msg, view), parse_error::short_set_header) << extra;
  }
}

class reserved_set_id : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(reserved_set_id, is_rejected) {
  auto msg = test::one_set_message(GetParam(), [](message_builder& b) { b.put_u32(0); });
  message_view view;
  EXPECT_EQ(message_view::parse(msg, view), parse_error::reserved_set_id);
}

INSTANTIATE_TEST_SUITE_P(message, reserved_set_id, ::testing::Values(0, 1, 4, 5, 100, 255));

TEST(message, set_ids_2_3_and_from_256_are_accepted) {
  for (std::uint16_t id : {2, 3, 256, 257, 65535}) {
    auto msg = test::one_set_message(id, [](message_builder&) {});
    message_view view;
    EXPECT_EQ(message_view::parse(msg, view), parse_error::none) << id;
  }
}

TEST(message, a_failed_parse_leaves_the_view_alone) {
  auto good = test::one_set_message(256, [](message_builder& b) { b.put_u32(0); });
  message_view view;
  ASSERT_EQ(message_view::parse(good, view), parse_error::none);
  auto bad = good;
  bad[1] = 9;
  EXPECT_EQ(message_view::parse(bad, view), parse_error::bad_version);
  EXPECT_EQ(view.bytes().data(), good.data());
  EXPECT_EQ(view.num_sets(), 1u);
}

TEST(message, to_string_names_every_error) {
  EXPECT_EQ(to_string(parse_error::none), "none");
  EXPECT_EQ(to_string(parse_error::bad_version), "bad_version");
  EXPECT_EQ(to_string(parse_error::varlen_overruns_set), "varlen_overruns_set");
  EXPECT_EQ(to_string(parse_error::record_shorter_than_template), "record_shorter_than_template");
  for (int e = 0; e <= static_cast<int>(parse_error::too_many_templates); ++e)
    EXPECT_NE(to_string(static_cast<parse_error>(e)), "unknown") << e;
}

} // namespace
} // namespace fa::ipfix
