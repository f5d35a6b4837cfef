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
