// The ground floor: hashes, Unix time and JSON strings (base/).

#include "base/hash.hpp"
#include "base/json_string.hpp"
#include "base/unix_time.hpp"

#include <gtest/gtest.h>

#include <array>
#include <ctime>
#include <string>

namespace fa::base {
namespace {

TEST(hash, mix64_is_splitmix64s_finaliser) {
  // splitmix64 seeded with 0: its outputs are mix64(k * golden_gamma), k = 1, 2, 3
  // (the published reference sequence of Vigna's splitmix64.c).
  EXPECT_EQ(mix64(golden_gamma), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(mix64(2 * golden_gamma), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(mix64(3 * golden_gamma), 0x06c45d188009454fULL);
  static_assert(mix64(0) == 0); // constexpr: usable in constant expressions
}

TEST(hash, fnv1a_matches_the_reference_values) {
  // FNV-1a 64 test vectors (Fowler, Noll, Vo: "FNV test vectors").
  EXPECT_EQ(fnv1a(nullptr, 0), 0xcbf29ce484222325ULL);
  const std::uint8_t a[] = {'a'};
  EXPECT_EQ(fnv1a(a, 1), 0xaf63dc4c8601ec8cULL);
  const std::uint8_t foobar[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(fnv1a(foobar, 6), 0x85944171f73967e8ULL);
}

TEST(hash, combining_words_depends_on_their_order) {
  EXPECT_NE(mix64(mix64(1), 2), mix64(mix64(2), 1));
  EXPECT_EQ(mix64(7, 9), mix64(7 + golden_gamma + 9));
}

TEST(hash, hash_bytes_covers_every_octet_and_the_length) {
  const std::uint8_t a[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const auto h = hash_bytes(a, sizeof a);
  EXPECT_EQ(h, hash_bytes(a, sizeof a));
  for (std::size_t i = 0; i < sizeof a; ++i) {
    auto b = std::to_array(a);
    b[i] ^= 1;
    EXPECT_NE(hash_bytes(b.data(), b.size()), h) << i;
  }
  // A zero octet past the end is not the same string: the length is mixed in.
  const std::uint8_t z[] = {1, 0};
  EXPECT_NE(hash_bytes(z, 1), hash_bytes(z, 2));
}

TEST(hash, address_hash_mixes_both_halves_and_the_extra_word) {
  std::uint8_t addr[16] = {};
  addr[15] = 1; // ::1
  const auto h = address_hash(addr);
  // Little-endian words: octet 15 is the top octet of the second word.
  EXPECT_EQ(h, mix64((std::uint64_t{1} << 56) * golden_gamma));
  addr[0] = 1;
  EXPECT_NE(address_hash(addr), h);
  EXPECT_NE(address_hash(addr, std::uint64_t{4739} << 48), address_hash(addr));
}

TEST(unix_time, is_the_system_clock_in_seconds) {
  auto before = static_cast<std::int64_t>(std::time(nullptr));
  auto now = unix_seconds();
  auto after = static_cast<std::int64_t>(std::time(nullptr));
  EXPECT_GE(now, before);
  EXPECT_LE(now, after);
}

TEST(json_string, escapes_quotes_backslashes_and_controls) {
  std::string s;
  append_json_string(s, std::string_view("a\"b\\c\nd\te\x01\x1f/\x7f\0z", 15));
  EXPECT_EQ(s, R"("a\"b\\c\nd\te\u0001\u001f/)"
               "\x7f"
               R"(\u0000z")");
}

TEST(json_string, valid_utf8_is_kept_and_invalid_utf8_replaced) {
  const std::string valid = "\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf";
  std::string out;
  append_json_string(out, valid);
  EXPECT_EQ(out, "\"" + valid + "\"");

  struct bad_case {
    std::string in, want;
  };
  const std::string r = "\xef\xbf\xbd"; // U+FFFD
  for (const auto& [in, want] : {
           bad_case{"a\xff"
                    "b",
                    "a" + r + "b"},
           bad_case{"\x80", r},
           bad_case{"\xc0\xaf", r + r}, // overlong
           bad_case{"\xe2\x82", r},     // cut: one maximal subpart
           bad_case{"\xe2\x82z", r + "z"},
           bad_case{"\xed\xa0\x80", r + r + r},         // surrogate
           bad_case{"\xf4\x90\x80\x80", r + r + r + r}, // above U+10FFFF
           bad_case{"\xf0\x9f\x98", r},
           bad_case{"\xc3", r},
       }) {
    std::string s;
    append_json_string(s, in);
    EXPECT_EQ(s, "\"" + want + "\"") << testing::PrintToString(in);
  }
}

} // namespace
} // namespace fa::base
