#include "ipfix/record.hpp"

#include "ipfix/message_builder.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <tuple>

namespace fa::ipfix {
namespace {

using test::bytes;
using test::make_template;

std::string text_of(bytes_view record, field_slice s) {
  return std::string(reinterpret_cast<const char*>(record.data()) + s.offset, s.length);
}

TEST(record_layout, fixed_template_has_fixed_offsets) {
  auto def = make_template(256, {{8, 4}, {12, 4}, {1, 8}, {4, 1}});
  record_layout layout(def);
  EXPECT_TRUE(layout.fixed());
  EXPECT_EQ(layout.min_length(), 17u);
  EXPECT_EQ(layout.num_fields(), 4u);
  bytes rec(17);
  parse_error err;
  EXPECT_EQ(layout.measure(rec, err), 17u);
  EXPECT_EQ(err, parse_error::none);
  std::vector<field_slice> s(4);
  layout.slice(rec, s);
  EXPECT_EQ(s[0].offset, 0);
  EXPECT_EQ(s[1].offset, 4);
  EXPECT_EQ(s[2].offset, 8);
  EXPECT_EQ(s[2].length, 8);
  EXPECT_EQ(s[3].offset, 16);
  EXPECT_EQ(s[3].length, 1);
  EXPECT_EQ(layout.field(rec, 3).offset, 16);
  EXPECT_EQ(layout.field(rec, 4).length, 0); // no such field
}

TEST(record_layout, reduced_size_fields_take_the_template_length) {
  // RFC 7011 6.2: octetDeltaCount (8 octets in the registry) sent in 4, then 2.
  auto msg = test::one_set_message(256, [](message_builder& b) {
    b.put_u32(123456);
    b.put_u16(7);
    b.put_u32(99);
    b.put_u16(8);
  });
  auto body = test::only_set_body(msg);
  record_layout layout(make_template(256, {{1, 4}, {2, 2}}));
  record_cursor cursor(body, layout);
  bytes_view rec;
  ASSERT_TRUE(cursor.next(rec));
  ASSERT_EQ(rec.size(), 6u);
  auto f = layout.field(rec, 0);
  EXPECT_EQ(read_uint(rec.data() + f.offset, f.length), 123456u);
  f = layout.field(rec, 1);
  EXPECT_EQ(read_uint(rec.data() + f.offset, f.length), 7u);
  ASSERT_TRUE(cursor.next(rec));
  EXPECT_EQ(read_uint(rec.data(), 4), 99u);
  EXPECT_FALSE(cursor.next(rec));
  EXPECT_EQ(cursor.error(), parse_error::none);
}

TEST(record_layout, varlen_in_1_and_3_octet_forms) {
  const std::string long_value(300, 'x');
  auto msg = test::one_set_message(256, [&](message_builder& b) {
    b.put_u32(1);
    b.put_string("pod-a");      // 1-octet prefix
    b.put_string("ns-b", true); // 3-octet prefix for a short value
    b.put_u32(2);
    b.put_string(long_value); // 3-octet prefix, as it must be
    b.put_string("");         // empty value
  });
  auto body = test::only_set_body(msg);
  auto def = make_template(256, {{8, 4}, {101, varlen, antrea_pen}, {100, varlen, antrea_pen}});
  record_layout layout(def);
  EXPECT_FALSE(layout.fixed());
  EXPECT_EQ(layout.min_length(), 6u);

  record_cursor cursor(body, layout);
  bytes_view rec;
  ASSERT_TRUE(cursor.next(rec));
  EXPECT_EQ(rec.size(), 4u + 1 + 5 + 3 + 4);
  std::vector<field_slice> s(3);
  layout.slice(rec, s);
  EXPECT_EQ(s[1].offset, 5);
  EXPECT_EQ(text_of(rec, s[1]), "pod-a");
  EXPECT_EQ(s[2].offset, 4 + 1 + 5 + 3);
  EXPECT_EQ(text_of(rec, s[2]), "ns-b");
  EXPECT_EQ(text_of(rec, layout.field(rec, 2)), "ns-b");

  ASSERT_TRUE(cursor.next(rec));
  EXPECT_EQ(rec.size(), 4u + 3 + 300 + 1);
  layout.slice(rec, s);
  EXPECT_EQ(s[1].offset, 7);
  EXPECT_EQ(text_of(rec, s[1]), long_value);
  EXPECT_EQ(s[2].length, 0);
  EXPECT_EQ(s[2].offset, 4 + 3 + 300 + 1);
  EXPECT_FALSE(cursor.next(rec));
  EXPECT_EQ(cursor.error(), parse_error::none);
  EXPECT_EQ(cursor.consumed(), body.size());
}

class data_padding : public ::testing::TestWithParam<std::tuple<bool, std::size_t, std::uint8_t>> {
};

TEST_P(data_padding, octets_shorter_than_a_record_are_padding) {
  // Plain variables: clang 14 cannot capture structured bindings in a lambda.
  const bool varlen_template = std::get<0>(GetParam());
  const std::size_t padding = std::get<1>(GetParam());
  const std::uint8_t value = std::get<2>(GetParam());
  auto def = varlen_template ? make_template(256, {{8, 4}, {82, varlen}, {4, 1}})
                             : make_template(256, {{8, 4}, {4, 1}, {7, 2}});
  auto msg = test::one_set_message(256, [&](message_builder& b) {
    for (int i = 0; i < 3; ++i) {
      b.put_u32(static_cast<std::uint32_t>(i));
      if (varlen_template)
        b.put_string("eth0");
      b.put_u8(6);
      if (!varlen_template)
        b.put_u16(80);
    }
    for (std::size_t i = 0; i < padding; ++i)
      b.put_u8(value);
  });
  auto body = test::only_set_body(msg);
  record_layout layout(def);
  ASSERT_LT(padding, layout.min_length());
  record_cursor cursor(body, layout);
  bytes_view rec;
  std::uint32_t n = 0;
  while (cursor.next(rec))
    EXPECT_EQ(read_u32(rec.data()), n++);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(cursor.error(), parse_error::none);
  EXPECT_EQ(cursor.consumed(), body.size() - padding);
  parse_error err;
  EXPECT_EQ(count_records(body, layout, err), 3u);
  EXPECT_EQ(err, parse_error::none);
}

// RFC 7011 3.3.1: padding should be zero; non-zero padding is not malformed either.
INSTANTIATE_TEST_SUITE_P(record_cursor, data_padding,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(0, 1, 3, 5),
                                            ::testing::Values(0x00, 0xa5)));

TEST(record_cursor, record_cut_in_a_fixed_field_is_shorter_than_its_template) {
  // A varlen template lets a cut record be at least as long as the minimum record.
  auto msg = test::one_set_message(256, [](message_builder& b) {
    b.put_string("eth0");
    b.put_u32(1);
    b.put_string("eth1");
    b.put_u16(0); // 2 of 4 octets
  });
  auto body = test::only_set_body(msg);
  record_layout layout(make_template(256, {{82, varlen}, {10, 4}}));
  record_cursor cursor(body, layout);
  bytes_view rec;
  EXPECT_TRUE(cursor.next(rec));
  EXPECT_FALSE(cursor.next(rec));
  EXPECT_EQ(cursor.error(), parse_error::record_shorter_than_template);
  EXPECT_FALSE(cursor.next(rec)); // stays stopped
  parse_error err;
  EXPECT_EQ(count_records(body, layout, err), 0u);
  EXPECT_EQ(err, parse_error::record_shorter_than_template);
}

TEST(record_layout, measure_reports_a_cut_fixed_record) {
  record_layout layout(make_template(256, {{8, 4}, {12, 4}}));
  bytes rec(7);
  parse_error err;
  EXPECT_EQ(layout.measure(rec, err), 0u);
  EXPECT_EQ(err, parse_error::record_shorter_than_template);
}

TEST(record_cursor, varlen_value_past_its_set_is_rejected) {
  auto msg = test::one_set_message(256, [](message_builder& b) {
    b.put_u32(1);
    b.put_u8(200); // 200 octets announced, 6 present
    b.put_string("short", false);
  });
  auto body = test::only_set_body(msg);
  record_layout layout(make_template(256, {{8, 4}, {82, varlen}}));
  record_cursor cursor(body, layout);
  bytes_view rec;
  EXPECT_FALSE(cursor.next(rec));
  EXPECT_EQ(cursor.error(), parse_error::varlen_overruns_set);
}

TEST(record_cursor, varlen_3_octet_prefix_past_its_set_is_rejected) {
  record_layout layout(make_template(256, {{8, 4}, {82, varlen}}));
  for (auto tail : {bytes{255}, bytes{255, 0}, bytes{255, 0, 5, 'a'}}) {
    auto msg = test::one_set_message(256, [&](message_builder& b) {
      b.put_u32(1);
      b.put_bytes(tail);
    });
    auto body = test::only_set_body(msg);
    record_cursor cursor(body, layout);
    bytes_view rec;
    EXPECT_FALSE(cursor.next(rec));
    EXPECT_EQ(cursor.error(), parse_error::varlen_overruns_set) << tail.size();
  }
}

TEST(record_cursor, varlen_prefix_missing_is_rejected) {
  // The varlen prefix of the third field lies past the record.
  record_layout layout(make_template(256, {{8, 4}, {4, 1}, {82, varlen}}));
  bytes body{0, 0, 0, 1, 6};
  parse_error err;
  EXPECT_EQ(layout.measure(body, err), 0u);
  EXPECT_EQ(err, parse_error::varlen_overruns_set);
}

TEST(record_cursor, empty_body_and_fieldless_template_have_no_records) {
  record_layout layout(make_template(256, {{8, 4}}));
  record_cursor empty({}, layout);
  bytes_view rec;
  EXPECT_FALSE(empty.next(rec));
  EXPECT_EQ(empty.error(), parse_error::none);

  record_layout nothing(template_def{});
  bytes body(10);
  record_cursor cursor(body, nothing);
  EXPECT_FALSE(cursor.next(rec)); // and does not loop forever
  EXPECT_EQ(cursor.error(), parse_error::none);
}

TEST(record_layout, for_each_field_stops_at_a_cut_record) {
  record_layout layout(make_template(256, {{8, 4}, {82, varlen}, {12, 4}}));
  bytes rec{0, 0, 0, 1, 3, 'a', 'b', 'c', 0, 0};
  std::vector<std::size_t> seen;
  EXPECT_EQ(layout.for_each_field(rec, [&](std::size_t i, field_slice) { seen.push_back(i); }), 2u);
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(layout.field(rec, 2).length, 0);

  record_layout fixed(make_template(256, {{8, 4}, {12, 4}}));
  EXPECT_EQ(fixed.for_each_field(bytes(7), [](std::size_t, field_slice) {}), 0u);
}

TEST(record_layout, occurrence_numbers_repeated_elements_in_template_order) {
  record_layout layout(make_template(
      256, {{1, 8}, {2, 8}, {1, 4}, {1, 8, reverse_pen}, {1, 2}, {2, 8}, {1, 8, reverse_pen}}));
  std::vector<std::uint16_t> got;
  for (std::size_t i = 0; i < layout.num_fields(); ++i)
    got.push_back(layout.occurrence(i));
  EXPECT_EQ(got, (std::vector<std::uint16_t>{1, 1, 2, 1, 3, 2, 2}));
  EXPECT_EQ(layout.occurrence(7), 0);
}

TEST(record, write_varlen_prefix_forms) {
  std::uint8_t p[3] = {};
  EXPECT_EQ(write_varlen_prefix(p, 0), 1u);
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(write_varlen_prefix(p, 254), 1u);
  EXPECT_EQ(p[0], 254);
  EXPECT_EQ(write_varlen_prefix(p, 255), 3u);
  EXPECT_EQ(p[0], 255);
  EXPECT_EQ(read_u16(p + 1), 255);
  EXPECT_EQ(write_varlen_prefix(p, 65535), 3u);
  EXPECT_EQ(read_u16(p + 1), 65535);
}

} // namespace
} // namespace fa::ipfix

// The segment walk agrees with the field-by-field walk on every field of every record,
// whatever mix of fixed and variable-length fields (and 1- or 3-octet prefixes).
TEST(record_layout, walk_varlen_and_located_agree_with_slice) {
  using namespace fa::ipfix;
  template_def def{256,
                   0,
                   {{8, 4, 0},
                    {101, varlen, antrea_pen},
                    {102, varlen, antrea_pen},
                    {7, 2, 0},
                    {4, 1, 0},
                    {103, varlen, antrea_pen},
                    {1, 8, 0}}};
  record_layout layout{def};
  ASSERT_EQ(layout.num_varlen(), 3u);
  std::vector<std::uint8_t> bytes;
  message_builder b{bytes};
  b.begin_message(0, 0, 0);
  b.begin_set(256);
  for (int i = 0; i < 20; ++i) {
    b.put_u32(static_cast<std::uint32_t>(i));
    b.put_string(std::string(static_cast<std::size_t>(i * 3), 'a'), i % 3 == 0);
    b.put_string(i % 2 ? "pod" : "", i % 5 == 0);
    b.put_u16(80);
    b.put_u8(6);
    b.put_string(std::string(static_cast<std::size_t>(i % 7 == 0 ? 300 : i), 'z'));
    b.put_u64(42);
  }
  b.end_set();
  b.end_message();
  bytes_view body{bytes.data() + 20, bytes.size() - 20};
  std::size_t pos = 0;
  int records = 0;
  std::vector<field_slice> all(def.fields.size()), var(layout.num_varlen());
  while (pos < body.size()) {
    parse_error e1, e2;
    auto rest = body.subspan(pos);
    auto n = layout.measure(rest, e1);
    ASSERT_EQ(layout.walk_varlen(rest, var, e2), n);
    ASSERT_EQ(e1, parse_error::none);
    ASSERT_EQ(e2, parse_error::none);
    // The values handed over describe the record exactly as the walk found it.
    EXPECT_EQ(layout.length_of(var, rest.size()), n) << "record " << records;
    layout.slice(rest.first(n), all);
    for (std::size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(layout.located(i, var).offset, all[i].offset)
          << "record " << records << " field " << i;
      EXPECT_EQ(layout.located(i, var).length, all[i].length)
          << "record " << records << " field " << i;
    }
    pos += n;
    ++records;
  }
  EXPECT_EQ(records, 20);
  // A record cut inside the trailing fixed field, and one cut inside a value.
  parse_error err;
  auto first_len = layout.measure(body, err);
  EXPECT_EQ(layout.walk_varlen(body.first(first_len - 1), var, err), 0u);
  EXPECT_EQ(err, parse_error::record_shorter_than_template);
  EXPECT_EQ(layout.walk_varlen(body.first(6), var, err), 0u);
  EXPECT_EQ(err, parse_error::varlen_overruns_set);
}

/// Templates for the walk's tests: variable-length values with runs of fixed fields
/// between them, a lone variable-length value, and a fixed template (no values).
static std::vector<fa::ipfix::template_def> walk_templates() {
  using namespace fa::ipfix;
  return {{256,
           0,
           {{8, 4, 0},
            {101, varlen, antrea_pen},
            {102, varlen, antrea_pen},
            {7, 2, 0},
            {103, varlen, antrea_pen},
            {1, 8, 0}}},
          {257, 0, {{101, varlen, antrea_pen}}},
          {258, 0, {{8, 4, 0}, {12, 4, 0}, {4, 1, 0}}}};
}

// slice_records (the agent session's one walk, issue 15) finds what record_cursor and a
// fresh walk_varlen find, record by record: the same records, the same octets consumed
// (padding left out), and each record's variable-length values in order, with 1- and
// 3-octet prefixes, runs of fixed fields between them, and fixed templates (no values).
TEST(slice_records, agrees_with_the_cursor_and_a_fresh_walk) {
  using namespace fa::ipfix;
  const auto defs = walk_templates();
  test::lcg next;
  for (const auto& def : defs) {
    record_layout layout{def};
    for (int round = 0; round < 30; ++round) {
      std::vector<std::uint8_t> out;
      message_builder b{out};
      b.begin_message(0, 0, 0);
      b.begin_set(def.id);
      const int records = 1 + static_cast<int>(next() % 12);
      for (int r = 0; r < records; ++r)
        test::put_varied_record(b, def, next);
      // Padding shorter than the shortest record (RFC 7011 3.3.1).
      b.end_set(layout.min_length() > 1 ? next() % layout.min_length() : 0);
      b.end_message();
      const bytes_view body{out.data() + 20, out.size() - 20};

      std::vector<field_slice> varlen{{7, 7}}; // appended to, not replaced
      const auto found = slice_records(body, layout, varlen);
      ASSERT_EQ(found.error, parse_error::none);
      ASSERT_EQ(found.records, static_cast<std::size_t>(records));
      ASSERT_EQ(varlen.size(), 1 + found.records * layout.num_varlen());
      EXPECT_EQ(varlen[0].offset, 7);
      record_cursor cursor{body, layout};
      bytes_view rec;
      std::size_t r = 0;
      std::vector<field_slice> fresh(layout.num_varlen());
      while (cursor.next(rec)) {
        parse_error err;
        ASSERT_EQ(layout.walk_varlen(rec, fresh, err), rec.size());
        const std::span<const field_slice> mine{varlen.data() + 1 + r * fresh.size(), fresh.size()};
        for (std::size_t k = 0; k < fresh.size(); ++k) {
          EXPECT_EQ(mine[k].offset, fresh[k].offset) << "record " << r << " value " << k;
          EXPECT_EQ(mine[k].length, fresh[k].length) << "record " << r << " value " << k;
        }
        EXPECT_EQ(layout.record_length(mine), rec.size()) << "record " << r;
        ++r;
      }
      EXPECT_EQ(r, found.records);
      EXPECT_EQ(cursor.consumed(), found.consumed);
    }
  }
}

// Malformed records are refused as record_cursor refuses them; a template without fields
// has no records; an empty body none either.
TEST(slice_records, refuses_what_the_cursor_refuses) {
  using namespace fa::ipfix;
  template_def def{256, 0, {{8, 4, 0}, {101, varlen, antrea_pen}, {1, 2, 0}}};
  record_layout layout{def};
  std::vector<field_slice> varlen;
  // 4 fixed octets, a value of 5 announced with 2 present.
  const std::vector<std::uint8_t> overrun{1, 2, 3, 4, 5, 'a', 'b'};
  auto found = slice_records(overrun, layout, varlen);
  EXPECT_EQ(found.error, parse_error::varlen_overruns_set);
  EXPECT_EQ(found.records, 0u);
  // The trailing fixed field cut short: 4 + (1 + 1) + 1 of 2 octets.
  const std::vector<std::uint8_t> cut{1, 2, 3, 4, 1, 'a', 9};
  found = slice_records(cut, layout, varlen);
  EXPECT_EQ(found.error, parse_error::record_shorter_than_template);
  for (const auto& body : {overrun, cut}) {
    parse_error err;
    EXPECT_EQ(count_records(body, layout, err), 0u);
    EXPECT_NE(err, parse_error::none);
  }
  // A 3-octet prefix cut after its first or second octet at the very end of the body
  // (the walk's fast path stops 3 octets before the end; the rest is walked field by
  // field, and nothing past the body is read).
  constexpr auto var = fa::ipfix::varlen; // `varlen` is the values here
  template_def late_def{256, 0, {{8, 4, 0}, {101, var, antrea_pen}, {102, var, antrea_pen}}};
  const record_layout late{late_def};
  for (const auto& body : {std::vector<std::uint8_t>{1, 2, 3, 4, 0, 255},
                           std::vector<std::uint8_t>{1, 2, 3, 4, 0, 255, 0}}) {
    found = slice_records(body, late, varlen);
    EXPECT_EQ(found.error, parse_error::varlen_overruns_set);
    EXPECT_EQ(found.records, 0u);
  }
  // An empty value at the very end: found by the slow path, exactly.
  const std::vector<std::uint8_t> tight{1, 2, 3, 4, 0, 5, 6};
  varlen.clear();
  found = slice_records(tight, layout, varlen);
  EXPECT_EQ(found.error, parse_error::none);
  EXPECT_EQ(found.records, 1u);
  ASSERT_EQ(varlen.size(), 1u);
  EXPECT_EQ(varlen[0].offset, 5);
  EXPECT_EQ(varlen[0].length, 0);
  varlen.clear();
  EXPECT_EQ(slice_records({}, layout, varlen).records, 0u);
  EXPECT_EQ(slice_records(overrun, record_layout{template_def{}}, varlen).records, 0u);
  EXPECT_TRUE(varlen.empty());
}

/// A data set body of up to 11 varied records of `def` and some padding, cut anywhere one
/// time in `cut_one_in`.
static std::vector<std::uint8_t> varied_body(const fa::ipfix::template_def& def,
                                             const fa::ipfix::record_layout& layout,
                                             fa::ipfix::test::lcg& next, unsigned cut_one_in) {
  using namespace fa::ipfix;
  std::vector<std::uint8_t> out;
  message_builder b{out};
  b.begin_message(0, 0, 0);
  b.begin_set(def.id);
  for (auto r = next() % 12; r > 0; --r)
    test::put_varied_record(b, def, next);
  b.end_set(layout.min_length() > 1 ? next() % layout.min_length() : 0);
  b.end_message();
  out.erase(out.begin(), out.begin() + 20);
  if (!out.empty() && next() % cut_one_in == 0) // cut anywhere
    out.resize(next() % out.size());
  return out;
}

/// What slice_records finds for `body` alone (its values appended to `alone`), checked
/// against `found`, what a walk of several sets at once found for it (set `i` of `round`).
static fa::ipfix::sliced_records expect_as_alone(const fa::ipfix::sliced_records& found,
                                                 fa::ipfix::bytes_view body,
                                                 const fa::ipfix::record_layout& layout,
                                                 std::vector<fa::ipfix::field_slice>& alone,
                                                 int round, std::size_t i) {
  const auto want = fa::ipfix::slice_records(body, layout, alone);
  EXPECT_EQ(found.error, want.error) << "round " << round << " set " << i;
  EXPECT_EQ(found.records, want.records) << "round " << round << " set " << i;
  EXPECT_EQ(found.consumed, want.consumed) << "round " << round << " set " << i;
  return want;
}

// slice_records_in_place (the agent session's walk of up to four sets at once into its
// batch's values, issue 15) finds for each set what slice_records finds for it alone, its
// values in its own room in order after what `varlen` held (untouched), each room as large
// as its body could need and no larger, and `varlen` ending at the last set's values.
TEST(slice_records, sets_walked_in_place_find_what_each_finds_alone) {
  using namespace fa::ipfix;
  const auto defs = walk_templates();
  test::lcg next{9};
  std::size_t malformed = 0, walked = 0;
  for (const auto& def : defs) {
    record_layout layout{def};
    const std::size_t k = layout.num_varlen();
    for (int round = 0; round < 200; ++round) {
      const std::size_t n = 1 + round % max_side_by_side;
      std::vector<std::vector<std::uint8_t>> sets;
      for (std::size_t i = 0; i < n; ++i)
        sets.push_back(varied_body(def, layout, next, 4));
      std::vector<bytes_view> bodies(sets.begin(), sets.end());
      std::vector<field_slice> varlen{{7, 7}};
      std::vector<std::size_t> starts(n, 99);
      std::vector<sliced_records> found(n, sliced_records{99, 99, parse_error::short_header});
      slice_records_in_place(bodies, layout, varlen, starts, found);
      ASSERT_FALSE(varlen.empty());
      EXPECT_EQ(varlen[0].offset, 7);
      std::size_t room_start = 1;
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<field_slice> alone;
        const auto want = expect_as_alone(found[i], bodies[i], layout, alone, round, i);
        if (k > 0) // a fixed template's sets have no values, so no room
          EXPECT_EQ(starts[i], room_start) << "round " << round << " set " << i;
        room_start += k == 0 ? 0 : bodies[i].size() / layout.min_length() * k;
        if (want.error != parse_error::none) {
          ++malformed;
          continue;
        }
        walked += want.records;
        ASSERT_LE(starts[i] + alone.size(), varlen.size()) << "round " << round << " set " << i;
        for (std::size_t j = 0; j < alone.size(); ++j) {
          EXPECT_EQ(varlen[starts[i] + j].offset, alone[j].offset) << "round " << round;
          EXPECT_EQ(varlen[starts[i] + j].length, alone[j].length) << "round " << round;
        }
      }
      EXPECT_EQ(varlen.size(), starts[n - 1] + found[n - 1].records * k) << "round " << round;
    }
  }
  EXPECT_GT(malformed, 20u); // the cuts made some
  EXPECT_GT(walked, 1000u);
}

// Values handed over instead of walked (enriched_payload varlen): the record length
// follows from them alone, and values that do not describe a record of the template
// within the octets there are are refused, so a reader never reads past its record.
TEST(record_layout, length_of_given_values_checks_them_against_the_template) {
  using namespace fa::ipfix;
  // 4 fixed, value, 2 fixed, value, 8 fixed.
  template_def def{
      256,
      0,
      {{8, 4, 0}, {101, varlen, antrea_pen}, {7, 2, 0}, {103, varlen, antrea_pen}, {1, 8, 0}}};
  record_layout layout{def};
  ASSERT_EQ(layout.var_rank(1), 0u);
  ASSERT_EQ(layout.var_rank(3), 1u);
  // "ab" with a 1-octet prefix at 4, "" with a 3-octet prefix at 4 + 1 + 2 + 2 = 9.
  std::vector<field_slice> v{{5, 2}, {12, 0}};
  EXPECT_EQ(layout.length_of(v, 100), 12u + 8);
  EXPECT_EQ(layout.length_of(v, 20), 20u);
  EXPECT_EQ(layout.length_of(v, 19), 0u); // the record would run past what there is
  auto refused = [&](std::vector<field_slice> bad) { return layout.length_of(bad, 100) == 0; };
  EXPECT_TRUE(refused({{4, 2}, {12, 0}}));  // no room for the first prefix
  EXPECT_TRUE(refused({{6, 2}, {12, 0}}));  // a gap that is no prefix form
  EXPECT_TRUE(refused({{5, 2}, {11, 0}}));  // the second value inside the fixed field
  EXPECT_TRUE(refused({{5, 20}, {12, 0}})); // the first value over the second
  EXPECT_TRUE(refused({{5, 2}}));           // a value missing
  EXPECT_FALSE(refused({{7, 2}, {14, 0}})); // both 3-octet prefixes: fine
  // A fixed template needs no values: its length, when it fits.
  record_layout fixed{template_def{257, 0, {{8, 4, 0}, {1, 8, 0}}}};
  EXPECT_EQ(fixed.length_of({}, 12), 12u);
  EXPECT_EQ(fixed.length_of({}, 11), 0u);
}
