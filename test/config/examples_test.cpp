#include "config/cluster_id.hpp"
#include "config/default_config.hpp"
#include "config/load.hpp"
#include "config/schema.hpp"

#include "test/config/helpers.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace fa::config;
using fa::config::test::destination;

namespace {

const std::filesystem::path config_dir = FA_CONFIG_SOURCE_DIR;

std::string read(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(examples, the_embedded_default_is_config_default_toml) {
  auto text = read(config_dir / "default.toml");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(default_config_text(), text);
}

TEST(examples, the_default_loads_and_prints_to_stdout) {
  auto r = load_default();
  ASSERT_TRUE(r) << to_string(r.errors);
  ASSERT_EQ(r.cfg->collector.listen.size(), 1u);
  EXPECT_EQ(r.cfg->collector.listen[0], (listen_endpoint{transport_kind::tcp, "0.0.0.0", 4739}));
  ASSERT_EQ(r.cfg->destinations.size(), 1u);
  EXPECT_EQ(r.cfg->destinations[0].name, "stdout");
  EXPECT_TRUE(r.cfg->destinations[0].url.is_stdout());
  // "everything else default": equal to the struct defaults.
  config expected;
  expected.collector.listen = r.cfg->collector.listen;
  expected.destinations.push_back(destination("stdout"));
  EXPECT_EQ(*r.cfg, expected);
  EXPECT_EQ(r.errors, load_file(config_dir / "default.toml").errors);
}

TEST(examples, every_example_loads) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator{config_dir / "examples"}) {
    if (entry.path().extension() != ".toml")
      continue;
    ++count;
    auto r = load_file(entry.path());
    EXPECT_TRUE(r) << to_string(r.errors);
  }
  EXPECT_GE(count, 3u);
}

TEST(examples, forward_tcp_drops_when_full) {
  auto r = load_file(config_dir / "examples" / "forward-tcp.toml");
  ASSERT_TRUE(r) << to_string(r.errors);
  ASSERT_FALSE(r.cfg->destinations.empty());
  const auto& d = r.cfg->destinations[0];
  EXPECT_EQ(d.url.kind, destination_kind::ipfix_tcp);
  EXPECT_EQ(d.on_full, on_full_policy::drop);
}

TEST(examples, jsonl_file_writes_a_file) {
  auto r = load_file(config_dir / "examples" / "jsonl-file.toml");
  ASSERT_TRUE(r) << to_string(r.errors);
  ASSERT_FALSE(r.cfg->destinations.empty());
  const auto& url = r.cfg->destinations[0].url;
  EXPECT_EQ(url.kind, destination_kind::jsonl);
  EXPECT_FALSE(url.is_stdout());
  EXPECT_FALSE(url.path.empty());
}

TEST(examples, antrea_sets_a_cluster_uuid) {
  auto r = load_file(config_dir / "examples" / "antrea.toml");
  ASSERT_TRUE(r) << to_string(r.errors);
  EXPECT_TRUE(parse_uuid(r.cfg->cluster_id)) << r.cfg->cluster_id;
  EXPECT_TRUE(r.cfg->enrichment.antrea);
}

TEST(examples, reference_documents_every_key) {
  auto reference = read(config_dir / ".." / "README.md");
  ASSERT_FALSE(reference.empty());
  for (const auto& key : schema_keys())
    EXPECT_NE(reference.find("| `" + key + "` |"), std::string::npos) << key;
}

} // namespace
