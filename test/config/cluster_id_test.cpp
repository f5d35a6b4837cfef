#include "config/cluster_id.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

using namespace fa::config;

namespace {

constexpr std::string_view sample_uuid = "9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b11";

TEST(cluster_id, fnv1_test_vectors) {
  EXPECT_EQ(fnv1_32(std::string_view{"kind-worker"}), 801257890u);
  EXPECT_EQ(fnv1_32(std::string_view{""}), 2166136261u);
  // FNV-1 multiplies before the xor; FNV-1a ("a" -> 0xe40c292c) does it the other way.
  EXPECT_EQ(fnv1_32(std::string_view{"a"}), 0x050c5d7eu);
}

TEST(cluster_id, fnv1_over_bytes_matches_over_text) {
  std::string_view text = "kind-worker";
  std::vector<std::uint8_t> bytes(text.begin(), text.end());
  EXPECT_EQ(fnv1_32(std::span<const std::uint8_t>{bytes}), 801257890u);
}

TEST(cluster_id, odid_hashes_the_text_of_a_non_uuid) {
  EXPECT_EQ(default_export_odid("kind-worker"), 801257890u);
}

TEST(cluster_id, odid_hashes_the_raw_bytes_of_a_uuid) {
  // Expected values computed with Python's uuid.UUID(...).bytes and a reference FNV-1.
  EXPECT_EQ(default_export_odid(sample_uuid), 2331527163u);
  EXPECT_EQ(fnv1_32(sample_uuid), 3446497313u); // what hashing the text would give
  EXPECT_EQ(default_export_odid("9E1A4C4F-7B7C-4A59-9A51-0D6D7F0F2B11"), 2331527163u);
}

TEST(cluster_id, parse_uuid) {
  auto bytes = parse_uuid(sample_uuid);
  ASSERT_TRUE(bytes);
  EXPECT_EQ((*bytes)[0], 0x9e);
  EXPECT_EQ((*bytes)[6], 0x4a);
  EXPECT_EQ((*bytes)[15], 0x11);
  for (const char* bad :
       {"", "9e1a4c4f7b7c4a599a510d6d7f0f2b11", "9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b1",
        "9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b111", "9e1a4c4f-7b7c-4a59-9a510-d6d7f0f2b11",
        "9e1a4c4g-7b7c-4a59-9a51-0d6d7f0f2b11", "{9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b}"})
    EXPECT_FALSE(parse_uuid(bad)) << bad;
}

TEST(cluster_id, generated_uuids_are_lowercase_version_4) {
  const std::regex canonical{
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = generate_cluster_uuid();
    EXPECT_TRUE(std::regex_match(id, canonical)) << id;
    EXPECT_TRUE(parse_uuid(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u); // 122 random bits: a repeat means no randomness
}

} // namespace
