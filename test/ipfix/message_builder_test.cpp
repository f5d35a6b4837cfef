#include "ipfix/message_builder.hpp"

#include "ipfix/record.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

namespace fa::ipfix {
namespace {

using test::bytes;
using test::make_template;

TEST(message_builder, round_trip_of_templates_options_and_data) {
  const auto tmpl = make_template(256, {{8, 4}, {101, varlen, antrea_pen}, {1, 8}});
  const auto opts = make_template(257, {{149, 4}, {41, 8}}, 1);
  bytes out;
  message_builder b(out);
  b.begin_message(1714566896, 77, 9);
  b.begin_set(template_set_id);
  b.add_template(tmpl);
  b.end_set();
  b.begin_set(options_template_set_id);
  b.add_template(opts);
  b.end_set(2);
  b.begin_set(256);
  b.put_u32(0x0a000001);
  b.put_string("pod-a");
  b.put_u64(1500);
  b.put_u32(0x0a000002);
  b.put_string("pod-b", true);
  b.put_u64(0x0102030405060708);
  b.end_set(1);
  b.begin_set(257);
  b.put_u32(9);
  b.put_u64(3);
  EXPECT_EQ(b.message_size(), out.size());
  const auto len = b.end_message(); // closes the data set
  EXPECT_EQ(len, out.size());

  message_view view;
  ASSERT_EQ(message_view::parse_datagram(out, view), parse_error::none);
  EXPECT_EQ(view.header().length, len);
  EXPECT_EQ(view.header().export_time, 1714566896u);
  EXPECT_EQ(view.header().sequence, 77u);
  EXPECT_EQ(view.header().observation_domain_id, 9u);
  ASSERT_EQ(view.num_sets(), 4u);

  auto sets = test::sets_of(out);
  std::vector<template_record> templates;
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(parse_template_set(sets[i].id, sets[i].body,
                                 [&](template_record&& r) { templates.push_back(std::move(r)); }),
              parse_error::none);
  ASSERT_EQ(templates.size(), 2u);
  EXPECT_EQ(templates[0].def, tmpl);
  EXPECT_EQ(templates[1].def, opts);

  record_layout layout(tmpl);
  record_cursor cursor(sets[2].body, layout);
  bytes_view rec;
  ASSERT_TRUE(cursor.next(rec));
  EXPECT_EQ(read_u32(rec.data()), 0x0a000001u);
  auto name = layout.field(rec, 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(rec.data()) + name.offset, name.length),
            "pod-a");
  EXPECT_EQ(read_u64(rec.data() + layout.field(rec, 2).offset), 1500u);
  ASSERT_TRUE(cursor.next(rec));
  name = layout.field(rec, 1);
  EXPECT_EQ(name.offset, 4 + 3); // 3-octet prefix
  EXPECT_EQ(read_u64(rec.data() + layout.field(rec, 2).offset), 0x0102030405060708u);
  EXPECT_FALSE(cursor.next(rec));
  EXPECT_EQ(cursor.error(), parse_error::none);

  parse_error err;
  EXPECT_EQ(count_records(sets[3].body, record_layout(opts), err), 1u);
  EXPECT_EQ(err, parse_error::none);
}

TEST(message_builder, writes_exact_octets) {
  bytes out;
  message_builder b(out);
  b.begin_message(0x01020304, 0x05060708, 0x090a0b0c);
  b.begin_set(300);
  b.put_u8(0xaa);
  b.put_u16(0xbbcc);
  b.end_set(3);
  b.end_message();
  const bytes expected{0x00, 0x0a, 0x00, 0x1a, 0x01, 0x02, 0x03, 0x04, 0x05,
                       0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x01, 0x2c,
                       0x00, 0x0a, 0xaa, 0xbb, 0xcc, 0x00, 0x00, 0x00};
  EXPECT_EQ(out, expected);
}

TEST(message_builder, varlen_forms) {
  bytes out;
  message_builder b(out);
  b.put_string("ab");
  EXPECT_EQ(out, (bytes{2, 'a', 'b'}));
  out.clear();
  b.put_string("ab", true);
  EXPECT_EQ(out, (bytes{255, 0, 2, 'a', 'b'}));
  out.clear();
  b.put_varlen(bytes(254, 1));
  EXPECT_EQ(out.size(), 255u);
  EXPECT_EQ(out[0], 254);
  out.clear();
  b.put_varlen(bytes(255, 1));
  ASSERT_EQ(out.size(), 258u);
  EXPECT_EQ(out[0], 255);
  EXPECT_EQ(read_u16(out.data() + 1), 255);
  out.clear();
  b.put_string("");
  EXPECT_EQ(out, (bytes{0}));
}

TEST(message_builder, messages_follow_each_other_in_one_buffer) {
  bytes out{0xff, 0xff}; // whatever was there before stays
  message_builder b(out);
  b.begin_message(1, 1, 1);
  b.begin_set(256);
  b.put_u32(1);
  const auto first = b.end_message();
  b.begin_message(2, 2, 2);
  EXPECT_EQ(b.message_size(), message_header_size);
  const auto second = b.end_message();
  ASSERT_EQ(out.size(), 2 + first + second);
  message_view v1, v2;
  ASSERT_EQ(message_view::parse_datagram(bytes_view(out).subspan(2, first), v1), parse_error::none);
  ASSERT_EQ(message_view::parse_datagram(bytes_view(out).subspan(2 + first), v2),
            parse_error::none);
  EXPECT_EQ(v1.num_sets(), 1u);
  EXPECT_EQ(v2.num_sets(), 0u);
  EXPECT_EQ(v2.header().sequence, 2u);
}

TEST(message_builder, withdrawals_round_trip) {
  bytes out;
  message_builder b(out);
  b.begin_message(0, 0, 1);
  b.begin_set(template_set_id);
  b.add_withdrawal(256);
  b.add_withdrawal(template_set_id);
  b.begin_set(options_template_set_id);
  b.add_withdrawal(options_template_set_id);
  b.end_message();
  auto sets = test::sets_of(out);
  ASSERT_EQ(sets.size(), 2u);
  std::vector<std::uint16_t> ids;
  for (auto& s : sets)
    EXPECT_EQ(parse_template_set(s.id, s.body,
                                 [&](template_record&& r) {
                                   EXPECT_TRUE(r.withdrawal);
                                   ids.push_back(r.def.id);
                                 }),
              parse_error::none);
  EXPECT_EQ(ids, (std::vector<std::uint16_t>{256, 2, 3}));
}

} // namespace
} // namespace fa::ipfix
