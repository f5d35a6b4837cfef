#include "flows/string_pool.hpp"

#include <gtest/gtest.h>

#include <string>

namespace fa::flows {
namespace {

ipfix::bytes_view b(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string str(ipfix::bytes_view v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

TEST(string_pool, a_hint_that_still_holds_the_string_takes_a_reference_and_a_stale_one_misses) {
  string_pool pool;
  string_pool::id_type hint = string_pool::empty;
  const auto a = pool.intern_hinted(b("ESTABLISHED"), hint);
  EXPECT_EQ(hint, a);
  EXPECT_EQ(pool.intern_hinted(b("ESTABLISHED"), hint), a) << "a hit";
  EXPECT_EQ(pool.intern(b("ESTABLISHED")), a) << "the same id as intern gives";
  pool.unref(a);
  pool.unref(a);
  EXPECT_EQ(str(pool.get(a)), "ESTABLISHED") << "the hit took a reference: one left";
  // Another value of the same length through the same hint: the id is not reused for it.
  const auto t = pool.intern_hinted(b("SYN_RECV_XX"), hint);
  EXPECT_NE(t, a);
  EXPECT_EQ(hint, t);
  EXPECT_EQ(str(pool.get(t)), "SYN_RECV_XX");
  // Freed, then its id reused for a string of the same length: the hint misses.
  pool.unref(t);
  const auto c = pool.intern(b("CLOSE_WAITX"));
  EXPECT_EQ(c, t) << "the freed id is reused";
  const auto t2 = pool.intern_hinted(b("SYN_RECV_XX"), hint);
  EXPECT_NE(t2, c);
  EXPECT_EQ(str(pool.get(t2)), "SYN_RECV_XX");
  EXPECT_EQ(str(pool.get(c)), "CLOSE_WAITX");
  // Freed and not reused: a miss, interned anew.
  pool.unref(t2);
  const auto t3 = pool.intern_hinted(b("SYN_RECV_XX"), hint);
  EXPECT_EQ(str(pool.get(t3)), "SYN_RECV_XX");
  pool.unref(t3);
  pool.unref(c);
  pool.unref(a);
  EXPECT_EQ(pool.size(), 0u);
  // A freed entry links the free ones through its length: a hint to one whose link
  // equals the string's length still misses (it holds no octets).
  const auto p1 = pool.intern(b("p1"));
  const auto q2 = pool.intern(b("q2"));
  string_pool::id_type r_hint = string_pool::empty;
  const auto r3 = pool.intern_hinted(b("r3"), r_hint);
  pool.unref(q2);
  pool.unref(r3); // its link: q2's id, 2, the length of "r3"
  ASSERT_EQ(q2, 2u);
  EXPECT_EQ(str(pool.get(pool.intern_hinted(b("r3"), r_hint))), "r3");
  pool.unref(r_hint);
  pool.unref(p1);
  // The pool gave its memory back (entries cleared): an old hint past the end misses.
  EXPECT_EQ(str(pool.get(pool.intern_hinted(b("ESTABLISHED"), hint))), "ESTABLISHED");
}

TEST(string_pool, equal_strings_share_one_id_until_the_last_reference) {
  string_pool pool;
  const std::string a = "pod-a|ns|node-1", c = "pod-c|ns|node-2";
  auto ia = pool.intern(b(a));
  auto ia2 = pool.intern(b(std::string(a)));
  auto ic = pool.intern(b(c));
  EXPECT_EQ(ia, ia2);
  EXPECT_NE(ia, ic);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(str(pool.get(ia)), a);
  pool.unref(ia);
  EXPECT_EQ(str(pool.get(ia)), a) << "one reference left";
  pool.unref(ia);
  EXPECT_EQ(pool.size(), 1u);
  auto id = pool.intern(b("another"));
  EXPECT_EQ(id, ia) << "the freed id is reused";
  EXPECT_EQ(str(pool.get(ic)), c);
  pool.ref(ic);
  pool.unref(ic);
  pool.unref(ic);
  pool.unref(id);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.memory_bytes(), 0u) << "an empty pool gives its memory back";
}

TEST(string_pool, the_empty_string_is_not_stored) {
  string_pool pool;
  EXPECT_EQ(pool.intern({}), string_pool::empty);
  EXPECT_TRUE(pool.get(string_pool::empty).empty());
  pool.ref(string_pool::empty);
  pool.unref(string_pool::empty);
  EXPECT_EQ(pool.size(), 0u);
}

TEST(string_pool, many_strings) {
  string_pool pool;
  std::vector<string_pool::id_type> ids;
  for (int i = 0; i < 10000; ++i)
    ids.push_back(pool.intern(b("string-" + std::to_string(i))));
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(str(pool.get(ids[static_cast<std::size_t>(i)])), "string-" + std::to_string(i));
  for (int i = 0; i < 10000; i += 2)
    pool.unref(ids[static_cast<std::size_t>(i)]);
  EXPECT_EQ(pool.size(), 5000u);
  for (int i = 1; i < 10000; i += 2)
    ASSERT_EQ(pool.intern(b("string-" + std::to_string(i))), ids[static_cast<std::size_t>(i)]);
}

} // namespace
} // namespace fa::flows
