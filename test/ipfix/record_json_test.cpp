#include "ipfix/record_json.hpp"

#include "ipfix/elements.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <limits>

namespace fa::ipfix {
namespace {

using test::bytes;
using test::make_template;

/// The JSON of the one record `fill` writes for `def`, built through a real message.
template <class F>
std::string json_of(const template_def& def, F&& fill) {
  auto msg = test::one_set_message(def.id, fill);
  auto body = test::only_set_body(msg);
  record_layout layout(def);
  record_cursor cursor(body, layout);
  bytes_view rec;
  EXPECT_TRUE(cursor.next(rec));
  EXPECT_EQ(cursor.consumed(), body.size());
  std::string out;
  append_record_json(out, def, layout, rec);
  // Whatever we write must be valid JSON.
  EXPECT_TRUE(nlohmann::json::accept(out)) << out;
  // The same from the variable-length values handed over (enriched_payload varlen).
  std::vector<field_slice> varlen(layout.num_varlen());
  parse_error err = parse_error::none;
  EXPECT_EQ(layout.walk_varlen(rec, varlen, err), rec.size());
  std::string given;
  append_record_json(given, def, layout, rec, varlen);
  EXPECT_EQ(given, out);
  return out;
}

/// One field of `type` element (pen, id) sent with `length`, value written by `fill`.
template <class F>
std::string one_field(std::uint16_t id, std::uint16_t length, F&& fill,
                      std::uint32_t pen = iana_pen) {
  return json_of(make_template(256, {{id, length, pen}}), fill);
}

std::uint64_t ntp(std::int64_t unix_seconds, std::uint64_t fraction) {
  return (static_cast<std::uint64_t>(unix_seconds + 2208988800) << 32) | fraction;
}

TEST(record_json, unsigned_integers_in_full_and_reduced_size) {
  auto def = make_template(256, {{1, 8}, {2, 4}, {85, 2}, {4, 1}, {7, 2}, {10, 3}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_u64(18446744073709551615u);
    b.put_u32(4000000000u); // packetDeltaCount in 4 of its 8 octets (RFC 7011 6.2)
    b.put_u16(65535);
    b.put_u8(6);
    b.put_u16(443);
    b.put_bytes(bytes{0x01, 0x00, 0x00}); // ingressInterface in 3 octets
  });
  EXPECT_EQ(out, R"({"octetDeltaCount":18446744073709551615,"packetDeltaCount":4000000000,)"
                 R"("octetTotalCount":65535,"protocolIdentifier":6,"sourceTransportPort":443,)"
                 R"("ingressInterface":65536})");
}

TEST(record_json, signed_integers_are_sign_extended_from_reduced_size) {
  // mibObjectValueInteger (434) is signed32.
  EXPECT_EQ(one_field(434, 4, [](message_builder& b) { b.put_u32(0xfffffffeu); }),
            R"({"mibObjectValueInteger":-2})");
  EXPECT_EQ(one_field(434, 2, [](message_builder& b) { b.put_u16(0x8000); }),
            R"({"mibObjectValueInteger":-32768})");
  EXPECT_EQ(one_field(434, 1, [](message_builder& b) { b.put_u8(0x7f); }),
            R"({"mibObjectValueInteger":127})");
  EXPECT_EQ(one_field(
                116, 4, [](message_builder& b) { b.put_u32(0x80000000u); }, antrea_pen),
            R"({"ingressNetworkPolicyRulePriority":-2147483648})");
}

TEST(record_json, float64_in_8_and_4_octets) {
  // samplingProbability (311) is float64.
  auto out =
      one_field(311, 8, [](message_builder& b) { b.put_u64(std::bit_cast<std::uint64_t>(0.25)); });
  EXPECT_EQ(out, R"({"samplingProbability":0.25})");
  out =
      one_field(311, 4, [](message_builder& b) { b.put_u32(std::bit_cast<std::uint32_t>(1.1f)); });
  EXPECT_EQ(out, R"({"samplingProbability":1.1})");
  out = one_field(311, 8, [](message_builder& b) {
    b.put_u64(std::bit_cast<std::uint64_t>(std::numeric_limits<double>::quiet_NaN()));
  });
  EXPECT_EQ(out, R"({"samplingProbability":null})");
  out = one_field(311, 4, [](message_builder& b) {
    b.put_u32(std::bit_cast<std::uint32_t>(-std::numeric_limits<float>::infinity()));
  });
  EXPECT_EQ(out, R"({"samplingProbability":null})");
  out = one_field(311, 8,
                  [](message_builder& b) { b.put_u64(std::bit_cast<std::uint64_t>(-1e300)); });
  EXPECT_EQ(nlohmann::json::parse(out)["samplingProbability"].get<double>(), -1e300);
}

TEST(record_json, booleans) {
  // dataRecordsReliability (276) is boolean: 1 true, 2 false (RFC 7011 6.1.5).
  EXPECT_EQ(one_field(276, 1, [](message_builder& b) { b.put_u8(1); }),
            R"({"dataRecordsReliability":true})");
  EXPECT_EQ(one_field(276, 1, [](message_builder& b) { b.put_u8(2); }),
            R"({"dataRecordsReliability":false})");
  EXPECT_EQ(one_field(276, 1, [](message_builder& b) { b.put_u8(0); }),
            R"({"dataRecordsReliability":0})");
}

TEST(record_json, addresses) {
  auto def = make_template(
      256, {{8, 4}, {56, 6}, {27, 16}, {28, 16}, {62, 16}, {63, 16}, {169, 16}, {170, 16}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_bytes(bytes{10, 0, 255, 1});
    b.put_bytes(bytes{0x00, 0x1b, 0x2c, 0xaa, 0xbf, 0xff});
    b.put_bytes(bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    b.put_bytes(bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    b.put_bytes(bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1});
    // A single zero group is not compressed; the longest run is (RFC 5952 4.2).
    b.put_bytes(bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1});
    b.put_bytes(bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0x01, 0x00, 0, 0});
    // Two runs of equal length: the first is compressed.
    b.put_bytes(bytes{0xfe, 0x80, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1});
  });
  EXPECT_EQ(out, R"({"sourceIPv4Address":"10.0.255.1","sourceMacAddress":"00:1b:2c:aa:bf:ff",)"
                 R"("sourceIPv6Address":"2001:db8::1","destinationIPv6Address":"::",)"
                 R"("ipNextHopIPv6Address":"::ffff:192.0.2.1",)"
                 R"("bgpNextHopIPv6Address":"2001:db8:0:1::1",)"
                 R"("destinationIPv6Prefix":"2001:db8:0:abcd::100:0",)"
                 R"("sourceIPv6Prefix":"fe80::1:1:0:0:1"})");
}

TEST(record_json, timestamps_with_their_precision) {
  auto def = make_template(256, {{150, 4}, {152, 8}, {154, 8}, {156, 8}, {160, 8}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_u32(1714566896);
    b.put_u64(1714566896123);
    // RFC 7011 6.1.9: microseconds in NTP format, the lowest 11 fraction bits ignored.
    b.put_u64(ntp(1714566896, ((std::uint64_t{123456} << 32) / 1000000) & ~0x7ffu));
    b.put_u64(ntp(1714566896, (std::uint64_t{123456789} << 32) / 1000000000));
    b.put_u64(951782400000); // a leap day
  });
  EXPECT_EQ(out, R"({"flowStartSeconds":"2024-05-01T12:34:56Z",)"
                 R"("flowStartMilliseconds":"2024-05-01T12:34:56.123Z",)"
                 R"("flowStartMicroseconds":"2024-05-01T12:34:56.123456Z",)"
                 R"("flowStartNanoseconds":"2024-05-01T12:34:56.123456789Z",)"
                 R"("systemInitTimeMilliseconds":"2000-02-29T00:00:00.000Z"})");
}

TEST(record_json, microseconds_ignore_the_lowest_11_fraction_bits) {
  // Just above 123456.5 microseconds: rounds up to 123457 unless the lowest 11 bits of
  // the fraction are ignored (RFC 7011 6.1.9), which brings it below the half.
  const std::uint64_t fraction = ((std::uint64_t{246913} << 31) + 999999) / 1000000;
  ASSERT_NE(fraction & 0x7ff, 0u);
  ASSERT_LT((fraction & ~std::uint64_t{0x7ff}) * 1000000, std::uint64_t{246913} << 31);
  EXPECT_EQ(one_field(154, 8, [&](message_builder& b) { b.put_u64(ntp(0, fraction)); }),
            R"({"flowStartMicroseconds":"1970-01-01T00:00:00.123456Z"})");
  // Nanoseconds use every bit.
  EXPECT_EQ(one_field(156, 8, [&](message_builder& b) { b.put_u64(ntp(0, fraction)); }),
            R"({"flowStartNanoseconds":"1970-01-01T00:00:00.123456500Z"})");
}

TEST(record_json, timestamp_edges) {
  EXPECT_EQ(one_field(150, 4, [](message_builder& b) { b.put_u32(0); }),
            R"({"flowStartSeconds":"1970-01-01T00:00:00Z"})");
  EXPECT_EQ(one_field(150, 4, [](message_builder& b) { b.put_u32(4294967295u); }),
            R"({"flowStartSeconds":"2106-02-07T06:28:15Z"})");
  // A fraction that rounds up to the next second carries into it.
  EXPECT_EQ(one_field(156, 8, [](message_builder& b) { b.put_u64(ntp(0, 0xffffffffu)); }),
            R"({"flowStartNanoseconds":"1970-01-01T00:00:01.000000000Z"})");
  // NTP era 0 starts in 1900.
  EXPECT_EQ(one_field(154, 8, [](message_builder& b) { b.put_u64(0); }),
            R"({"flowStartMicroseconds":"1900-01-01T00:00:00.000000Z"})");
  // Past year 9999 there is no RFC 3339 text: the number stays.
  EXPECT_EQ(one_field(152, 8, [](message_builder& b) { b.put_u64(18446744073709551615u); }),
            R"({"flowStartMilliseconds":18446744073709551615})");
  // A timestamp with a length its type cannot have is kept as hex.
  EXPECT_EQ(one_field(154, 4, [](message_builder& b) { b.put_u32(0x01020304); }),
            R"({"flowStartMicroseconds":"01020304"})");
}

TEST(record_json, strings_are_escaped) {
  auto out = one_field(82, varlen, [](message_builder& b) {
    b.put_string(std::string_view("a\"b\\c\nd\te\x01\x1f/\x7f\0z", 15));
  });
  EXPECT_EQ(out, R"({"interfaceName":"a\"b\\c\nd\te\u0001\u001f/)"
                 "\x7f"
                 R"(\u0000z"})");
  EXPECT_EQ(nlohmann::json::parse(out)["interfaceName"].get<std::string>(),
            std::string("a\"b\\c\nd\te\x01\x1f/\x7f\0z", 15));
}

TEST(record_json, valid_utf8_is_kept_and_invalid_utf8_replaced) {
  const std::string valid = "\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf";
  auto out = one_field(82, varlen, [&](message_builder& b) { b.put_string(valid); });
  EXPECT_EQ(nlohmann::json::parse(out)["interfaceName"].get<std::string>(), valid);

  // Invalid UTF-8 is replaced by U+FFFD: base/json_string.hpp, tested in test/base.
  const std::string bad = "a\xff"
                          "b";
  out = one_field(82, varlen, [&](message_builder& b) { b.put_string(bad); });
  EXPECT_EQ(nlohmann::json::parse(out)["interfaceName"].get<std::string>(), "a\xef\xbf\xbd"
                                                                            "b");
}

TEST(record_json, octet_arrays_lists_and_unknown_elements_are_hex) {
  auto def = make_template(
      256, {{95, varlen}, {159, 16, antrea_pen}, {291, varlen}, {30000, 2}, {7, 3, 12345}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_varlen(bytes{0xde, 0xad, 0xbe, 0xef});
    b.put_bytes(bytes{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff});
    b.put_varlen(bytes{0xff, 0x00, 0x08});
    b.put_u16(0xabcd);
    b.put_bytes(bytes{1, 2, 3});
  });
  EXPECT_EQ(out,
            R"({"applicationId":"deadbeef","sourcePodUUID":"000102030405060708090a0b0c0d0eff",)"
            R"("basicList":"ff0008","id30000":"abcd","e12345id7":"010203"})");
}

TEST(record_json, values_whose_length_does_not_fit_their_type_are_hex) {
  auto def = make_template(256, {{8, 3}, {56, 5}, {27, 4}, {276, 2}, {1, varlen}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_bytes(bytes{10, 0, 1});
    b.put_bytes(bytes{1, 2, 3, 4, 5});
    b.put_u32(0x01020304);
    b.put_u16(1);
    b.put_varlen(bytes(9, 1)); // an unsigned64 longer than 8 octets
  });
  EXPECT_EQ(out, R"({"sourceIPv4Address":"0a0001","sourceMacAddress":"0102030405",)"
                 R"("sourceIPv6Address":"01020304","dataRecordsReliability":"0001",)"
                 R"("octetDeltaCount":"010101010101010101"})");
}

TEST(record_json, duplicate_names_get_a_suffix) {
  auto def = make_template(256, {{1, 8}, {2, 8}, {1, 4}, {1, 2}, {1, 8, reverse_pen}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_u64(1);
    b.put_u64(2);
    b.put_u32(3);
    b.put_u16(4);
    b.put_u64(5);
  });
  EXPECT_EQ(out, R"({"octetDeltaCount":1,"packetDeltaCount":2,"octetDeltaCount#2":3,)"
                 R"("octetDeltaCount#3":4,"reverseOctetDeltaCount":5})");
}

TEST(record_json, antrea_record_with_varlen_in_both_forms) {
  auto def = make_template(256, {{8, 4},
                                 {101, varlen, antrea_pen},
                                 {100, varlen, antrea_pen},
                                 {137, 1, antrea_pen},
                                 {1, 8, reverse_pen}});
  auto out = json_of(def, [](message_builder& b) {
    b.put_bytes(bytes{10, 10, 0, 5});
    b.put_string("web-0");
    b.put_string("default", true);
    b.put_u8(2);
    b.put_u64(99);
  });
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["sourceIPv4Address"], "10.10.0.5");
  EXPECT_EQ(j["sourcePodName"], "web-0");
  EXPECT_EQ(j["sourcePodNamespace"], "default");
  EXPECT_EQ(j["flowType"], 2);
  EXPECT_EQ(j["reverseOctetDeltaCount"], 99);
  EXPECT_EQ(j.size(), 5u);
}

TEST(record_json, appends_to_what_is_there) {
  auto def = make_template(256, {{4, 1}});
  bytes rec{17};
  record_layout layout(def);
  std::string out = "[";
  append_record_json(out, def, layout, rec);
  out += ',';
  append_record_json(out, def, layout, rec);
  out += ']';
  EXPECT_EQ(out, R"([{"protocolIdentifier":17},{"protocolIdentifier":17}])");
}

TEST(record_json, cut_record_writes_the_fields_that_are_there) {
  // Not a record the cursor would hand out, but the formatter must stay inside it.
  auto def = make_template(256, {{4, 1}, {82, varlen}});
  record_layout layout(def);
  bytes rec{6, 10, 'a'};
  std::string out;
  append_record_json(out, def, layout, rec);
  EXPECT_EQ(out, R"({"protocolIdentifier":6})");
}

} // namespace
} // namespace fa::ipfix
