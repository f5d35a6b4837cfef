#include "ipfix/template.hpp"

#include "ipfix/message.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

namespace fa::ipfix {
namespace {

using test::bytes;
using test::make_template;

/// Parses every record of a template set body.
parse_error parse_all(std::uint16_t set_id, const bytes& body, std::vector<template_record>& out) {
  return parse_template_set(set_id, body,
                            [&](template_record&& rec) { out.push_back(std::move(rec)); });
}

bytes encode(std::initializer_list<template_def> defs) {
  bytes out;
  for (const auto& d : defs)
    encode_template_record(d, out);
  return out;
}

TEST(template_def, lengths_and_sizes) {
  auto fixed = make_template(256, {{8, 4}, {1, 8}, {4, 1}});
  EXPECT_EQ(fixed.min_record_length(), 13u);
  EXPECT_FALSE(fixed.has_varlen());
  EXPECT_EQ(fixed.encoded_size(), 4u + 3 * 4);
  EXPECT_FALSE(fixed.is_options());

  auto mixed = make_template(257, {{8, 4}, {101, varlen, antrea_pen}, {82, varlen}}, 1);
  EXPECT_EQ(mixed.min_record_length(), 4u + 1 + 1);
  EXPECT_TRUE(mixed.has_varlen());
  EXPECT_EQ(mixed.encoded_size(), 6u + 4 + 8 + 4);
  EXPECT_TRUE(mixed.is_options());
}

TEST(template_def, same_layout_ignores_the_id_only) {
  auto a = make_template(256, {{8, 4}});
  auto b = make_template(300, {{8, 4}});
  EXPECT_TRUE(a.same_layout(b));
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a.same_layout(make_template(256, {{8, 2}})));
  EXPECT_FALSE(a.same_layout(make_template(256, {{8, 4, 1}})));
  EXPECT_FALSE(a.same_layout(make_template(256, {{8, 4}}, 1)));
}

TEST(template_parse, round_trip_with_enterprise_and_varlen_fields) {
  auto t1 = make_template(256, {{8, 4}, {12, 4}, {1, 8}});
  auto t2 = make_template(400, {{101, varlen, antrea_pen}, {1, 8, reverse_pen}, {82, varlen}});
  auto body = encode({t1, t2});
  EXPECT_EQ(body.size(), t1.encoded_size() + t2.encoded_size());
  std::vector<template_record> recs;
  ASSERT_EQ(parse_all(template_set_id, body, recs), parse_error::none);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_FALSE(recs[0].withdrawal);
  EXPECT_EQ(recs[0].def, t1);
  EXPECT_EQ(recs[1].def, t2);
}

TEST(template_parse, enterprise_bit_is_stripped_from_the_id_and_the_number_read) {
  auto body = encode({make_template(256, {{101, varlen, antrea_pen}})});
  // On the wire: id with the top bit, then the enterprise number.
  EXPECT_EQ(read_u16(body.data() + 4), 0x8000 | 101);
  EXPECT_EQ(read_u32(body.data() + 8), antrea_pen);
  std::size_t pos = 0;
  template_record rec;
  bool done = false;
  ASSERT_EQ(parse_template_record(template_set_id, body, pos, rec, done), parse_error::none);
  EXPECT_FALSE(done);
  EXPECT_EQ(pos, body.size());
  ASSERT_EQ(rec.def.fields.size(), 1u);
  EXPECT_EQ(rec.def.fields[0].id, 101);
  EXPECT_EQ(rec.def.fields[0].enterprise, antrea_pen);
  EXPECT_EQ(rec.def.fields[0].encoded_size(), 8u);
}

TEST(template_parse, enterprise_bit_with_enterprise_zero_is_the_iana_element) {
  bytes body(12);
  write_u16(body.data(), 256);
  write_u16(body.data() + 2, 1);
  write_u16(body.data() + 4, 0x8000 | 8);
  write_u16(body.data() + 6, 4);
  write_u32(body.data() + 8, 0);
  std::vector<template_record> recs;
  ASSERT_EQ(parse_all(template_set_id, body, recs), parse_error::none);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].def.fields[0], (field_spec{8, 4, 0}));
}

TEST(template_parse, options_template_carries_its_scope_count) {
  auto def = make_template(300, {{149, 4}, {144, 4}, {41, 8}}, 2);
  auto body = encode({def});
  std::vector<template_record> recs;
  ASSERT_EQ(parse_all(options_template_set_id, body, recs), parse_error::none);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].def.scope_count, 2);
  EXPECT_TRUE(recs[0].def.is_options());
  EXPECT_EQ(recs[0].def, def);
}

TEST(template_parse, options_template_with_scope_count_0_is_rejected) {
  // encode_template_record cannot write scope count 0: written by hand.
  bytes body(10);
  write_u16(body.data(), 300);
  write_u16(body.data() + 2, 1);
  write_u16(body.data() + 4, 0);
  write_u16(body.data() + 6, 149);
  write_u16(body.data() + 8, 4);
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(options_template_set_id, body, recs), parse_error::zero_scope_count);
  EXPECT_TRUE(recs.empty());
}

TEST(template_parse, options_template_with_scope_count_above_field_count_is_rejected) {
  auto body = encode({make_template(300, {{149, 4}, {41, 8}}, 3)});
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(options_template_set_id, body, recs), parse_error::scope_count_too_large);
  // Scope count equal to the field count is fine.
  recs.clear();
  body = encode({make_template(300, {{149, 4}, {41, 8}}, 2)});
  EXPECT_EQ(parse_all(options_template_set_id, body, recs), parse_error::none);
  EXPECT_EQ(recs.size(), 1u);
}

TEST(template_parse, template_ids_below_256_are_rejected) {
  for (std::uint16_t id : {0, 1, 2, 3, 255}) {
    std::vector<template_record> recs;
    EXPECT_EQ(parse_all(template_set_id, encode({make_template(id, {{8, 4}})}), recs),
              parse_error::bad_template_id)
        << id;
    EXPECT_EQ(parse_all(options_template_set_id, encode({make_template(id, {{8, 4}}, 1)}), recs),
              parse_error::bad_template_id)
        << id;
  }
}

TEST(template_parse, withdrawals) {
  bytes body;
  message_builder b(body); // only the record-level calls are used here
  b.add_withdrawal(256);
  b.add_withdrawal(template_set_id);
  std::vector<template_record> recs;
  ASSERT_EQ(parse_all(template_set_id, body, recs), parse_error::none);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_TRUE(recs[0].withdrawal);
  EXPECT_EQ(recs[0].def.id, 256);
  EXPECT_TRUE(recs[0].def.fields.empty());
  EXPECT_TRUE(recs[1].withdrawal);
  EXPECT_EQ(recs[1].def.id, template_set_id);

  // Options template withdrawals have no scope count (RFC 7011 8.1).
  body.clear();
  b.add_withdrawal(300);
  b.add_withdrawal(options_template_set_id);
  recs.clear();
  ASSERT_EQ(parse_all(options_template_set_id, body, recs), parse_error::none);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].def.id, 300);
  EXPECT_EQ(recs[1].def.id, options_template_set_id);
}

TEST(template_parse, withdraw_all_id_must_match_its_set) {
  for (auto [set_id, id] : {std::pair<std::uint16_t, std::uint16_t>{template_set_id, 3},
                            {options_template_set_id, 2},
                            {template_set_id, 0},
                            {template_set_id, 255}}) {
    bytes body;
    message_builder b(body);
    b.add_withdrawal(id);
    std::vector<template_record> recs;
    EXPECT_EQ(parse_all(set_id, body, recs), parse_error::bad_template_id) << set_id << "/" << id;
  }
}

TEST(template_parse, field_length_0_is_rejected) {
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(template_set_id, encode({make_template(256, {{8, 4}, {12, 0}})}), recs),
            parse_error::bad_field_length);
}

TEST(template_parse, template_no_message_could_carry_is_rejected) {
  std::vector<template_record> recs;
  EXPECT_EQ(
      parse_all(template_set_id, encode({make_template(256, {{313, 60000}, {314, 5516}})}), recs),
      parse_error::template_too_long);
  // 65515 octets is the longest record a message can carry.
  EXPECT_EQ(
      parse_all(template_set_id, encode({make_template(256, {{313, 60000}, {314, 5515}})}), recs),
      parse_error::none);
}

TEST(template_parse, cut_records_are_short_template_records) {
  auto full = encode({make_template(256, {{8, 4}, {101, varlen, antrea_pen}, {12, 4}})});
  // Every cut from 4 octets (the header is there) to one octet short of the end.
  for (std::size_t len = 4; len < full.size(); ++len) {
    bytes body(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    std::vector<template_record> recs;
    EXPECT_EQ(parse_all(template_set_id, body, recs), parse_error::short_template_record) << len;
  }
  // An options template record cut inside its scope count.
  auto opts = encode({make_template(300, {{149, 4}}, 1)});
  bytes cut(opts.begin(), opts.begin() + 5);
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(options_template_set_id, cut, recs), parse_error::short_template_record);
}

TEST(template_parse, huge_field_count_is_rejected_before_reading_fields) {
  bytes body(8);
  write_u16(body.data(), 256);
  write_u16(body.data() + 2, 65535);
  write_u16(body.data() + 4, 8);
  write_u16(body.data() + 6, 4);
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(template_set_id, body, recs), parse_error::short_template_record);
}

class template_padding : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint8_t>> {};

TEST_P(template_padding, fewer_than_4_trailing_octets_are_padding) {
  auto [padding, value] = GetParam();
  auto body = encode({make_template(256, {{8, 4}}), make_template(257, {{12, 4}})});
  body.insert(body.end(), padding, value);
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(template_set_id, body, recs), parse_error::none);
  EXPECT_EQ(recs.size(), 2u);
}

// RFC 7011 3.3.1: padding should be zero, but non-zero padding is not malformed.
INSTANTIATE_TEST_SUITE_P(template_parse, template_padding,
                         ::testing::Combine(::testing::Values(0, 1, 2, 3),
                                            ::testing::Values(0x00, 0xff)));

TEST(template_parse, four_or_more_trailing_octets_are_a_record) {
  auto body = encode({make_template(256, {{8, 4}})});
  body.insert(body.end(), 4, 0);
  std::vector<template_record> recs;
  EXPECT_EQ(parse_all(template_set_id, body, recs), parse_error::bad_template_id);
  EXPECT_EQ(recs.size(), 1u); // the record before the bad one was delivered
}

TEST(template_parse, record_level_api_reports_done_and_advances) {
  auto body = encode({make_template(256, {{8, 4}})});
  body.push_back(0);
  std::size_t pos = 0;
  template_record rec;
  bool done = true;
  ASSERT_EQ(parse_template_record(template_set_id, body, pos, rec, done), parse_error::none);
  EXPECT_FALSE(done);
  EXPECT_EQ(pos, 8u);
  ASSERT_EQ(parse_template_record(template_set_id, body, pos, rec, done), parse_error::none);
  EXPECT_TRUE(done);
}

TEST(template_parse, data_set_ids_are_not_template_sets) {
  auto body = encode({make_template(256, {{8, 4}})});
  std::vector<template_record> recs;
  EXPECT_NE(parse_all(256, body, recs), parse_error::none);
  EXPECT_TRUE(recs.empty());
}

TEST(template_encode, writes_header_scope_and_specifiers) {
  bytes out{0xee}; // appends
  encode_template_record(make_template(300, {{149, 4}, {101, varlen, antrea_pen}}, 1), out);
  ASSERT_EQ(out.size(), 1u + 6 + 4 + 8);
  const auto* p = out.data() + 1;
  EXPECT_EQ(read_u16(p), 300);
  EXPECT_EQ(read_u16(p + 2), 2);
  EXPECT_EQ(read_u16(p + 4), 1);
  EXPECT_EQ(read_u16(p + 6), 149);
  EXPECT_EQ(read_u16(p + 8), 4);
  EXPECT_EQ(read_u16(p + 10), 0x8000 | 101);
  EXPECT_EQ(read_u16(p + 12), varlen);
  EXPECT_EQ(read_u32(p + 14), antrea_pen);
}

} // namespace
} // namespace fa::ipfix
