#include "labels/label_json.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace fa::labels {
namespace {

// The value of one label {"k": value}, for escaping tests.
std::string value_json(const std::string& value) {
  return encode_labels_json(label_list{{"k", value}});
}

std::string as_value(const std::string& json_text) {
  return R"({"k":")" + json_text + R"("})";
}

TEST(label_json, antrea_example) {
  EXPECT_EQ(encode_labels_json(label_list{{"app", "iperf"}, {"antrea-e2e", "perftest-a"}}),
            R"({"antrea-e2e":"perftest-a","app":"iperf"})");
}

TEST(label_json, empty_is_braces) {
  EXPECT_EQ(encode_labels_json(label_list{}), "{}");
  EXPECT_EQ(encode_labels_json(std::map<std::string, std::string>{}), "{}");
}

TEST(label_json, keys_sorted_bytewise) {
  // Upper case before lower case, shorter prefix first, bytes >= 0x80 last (unsigned).
  label_list l{{"b", "1"}, {"\xc3\xa9", "2"}, {"a", "3"}, {"B", "4"}, {"ab", "5"}, {"", "6"}};
  EXPECT_EQ(encode_labels_json(l),
            "{\"\":\"6\",\"B\":\"4\",\"a\":\"3\",\"ab\":\"5\",\"b\":\"1\",\"\xc3\xa9\":\"2\"}");
}

TEST(label_json, map_overload_matches_list) {
  std::map<std::string, std::string> m{{"z", "<1>"}, {"a", "x"}};
  EXPECT_EQ(encode_labels_json(m), R"({"a":"x","z":"\u003c1\u003e"})");
  EXPECT_EQ(encode_labels_json(m), encode_labels_json(label_list{{"z", "<1>"}, {"a", "x"}}));
}

TEST(label_json, duplicate_key_last_wins) {
  label_list l{{"app", "first"}, {"b", "x"}, {"app", "second"}, {"app", "third"}};
  EXPECT_EQ(encode_labels_json(l), R"({"app":"third","b":"x"})");
}

TEST(label_json, keys_are_escaped_too) {
  EXPECT_EQ(encode_labels_json(label_list{{"a\"b", "v"}}), R"({"a\"b":"v"})");
}

TEST(label_json, quote_and_backslash) {
  EXPECT_EQ(value_json("a\"b\\c"), as_value(R"(a\"b\\c)"));
}

TEST(label_json, short_escapes) {
  EXPECT_EQ(value_json("a\nb\rc\td"), as_value(R"(a\nb\rc\td)"));
}

TEST(label_json, other_controls_as_u00xx_lowercase) {
  EXPECT_EQ(value_json(std::string("\0", 1)), as_value(R"(\u0000)"));
  EXPECT_EQ(value_json("\x01\x08\x0b\x0c\x1b\x1f"),
            as_value(R"(\u0001\u0008\u000b\u000c\u001b\u001f)"));
  // DEL (0x7f) is not a control for Go's encoder.
  EXPECT_EQ(value_json("\x7f"), as_value("\x7f"));
}

TEST(label_json, html_characters) {
  EXPECT_EQ(value_json("<a href='x'>&</a>"),
            as_value(R"(\u003ca href='x'\u003e\u0026\u003c/a\u003e)"));
}

TEST(label_json, printable_ascii_kept) {
  EXPECT_EQ(value_json("perftest-a_1.2/x:y=z 'q'"), as_value("perftest-a_1.2/x:y=z 'q'"));
}

TEST(label_json, line_and_paragraph_separators) {
  EXPECT_EQ(value_json("a\xe2\x80\xa8"
                       "b\xe2\x80\xa9"
                       "c"),
            as_value(R"(a\u2028b\u2029c)"));
  // Their neighbours U+2027 and U+202A are ordinary characters.
  EXPECT_EQ(value_json("\xe2\x80\xa7\xe2\x80\xaa"), as_value("\xe2\x80\xa7\xe2\x80\xaa"));
}

TEST(label_json, valid_multibyte_kept) {
  // 2, 3 and 4 bytes, the largest code point U+10FFFF, and a literal U+FFFD.
  std::string s = "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf "
                  "\xef\xbf\xbd \xed\x9f\xbf";
  EXPECT_EQ(value_json(s), as_value(s));
}

TEST(label_json, lone_continuation_byte) {
  EXPECT_EQ(value_json("a\x80"
                       "b"),
            as_value(R"(a\ufffdb)"));
  EXPECT_EQ(value_json("\xbf\xbf"), as_value(R"(\ufffd\ufffd)"));
}

TEST(label_json, truncated_sequences) {
  // E2 82 lacks its third byte: each of the two bytes is one U+FFFD.
  EXPECT_EQ(value_json("a\xe2\x82"), as_value(R"(a\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xe2\x82z"), as_value(R"(\ufffd\ufffdz)"));
  EXPECT_EQ(value_json("\xc3"), as_value(R"(\ufffd)"));
  EXPECT_EQ(value_json("\xf0\x9f\x98"), as_value(R"(\ufffd\ufffd\ufffd)"));
}

TEST(label_json, overlong_encodings) {
  EXPECT_EQ(value_json("\xc0\xaf"), as_value(R"(\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xc1\xbf"), as_value(R"(\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xe0\x80\xaf"), as_value(R"(\ufffd\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xf0\x80\x80\xaf"), as_value(R"(\ufffd\ufffd\ufffd\ufffd)"));
}

TEST(label_json, surrogates) {
  EXPECT_EQ(value_json("\xed\xa0\x80"), as_value(R"(\ufffd\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xed\xbf\xbf"), as_value(R"(\ufffd\ufffd\ufffd)"));
}

TEST(label_json, beyond_u10ffff_and_f5_to_ff) {
  EXPECT_EQ(value_json("\xf4\x90\x80\x80"), as_value(R"(\ufffd\ufffd\ufffd\ufffd)"));
  EXPECT_EQ(value_json("\xf5\x80\x80\x80"), as_value(R"(\ufffd\ufffd\ufffd\ufffd)"));
  EXPECT_EQ(value_json("a\xf8"
                       "b\xfe\xff"),
            as_value(R"(a\ufffdb\ufffd\ufffd)"));
}

TEST(label_json, invalid_byte_followed_by_valid_sequence) {
  // The bad byte is replaced alone; the well-formed é after it is kept.
  EXPECT_EQ(value_json("\xe2\xc3\xa9"), as_value("\\ufffd\xc3\xa9"));
}

} // namespace
} // namespace fa::labels
