// The command line as a user meets it: check-config, version, and `run` end to end with a
// jsonl destination and a clean SIGTERM.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

using namespace std::chrono_literals;

namespace {

std::string write(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
  return path;
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

} // namespace

TEST(cli, check_config_names_file_line_key_and_fix) {
  auto dir = fa::test::scratch_dir("cli_check");
  auto file = write(dir + "/bad.toml", "[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n"
                                       "[[destination]]\nname = \"x\"\nurl = \"jsonl:stdout\"\n"
                                       "on_full = \"dorp\"\nflush_intervall = \"5ms\"\n");
  std::string out;
  auto rc = fa::test::run_command(
      {fa::test::binary("app/flow-aggregator"), "check-config", "-c", file}, out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("bad.toml:7:"), std::string::npos) << out;
  EXPECT_NE(out.find("\"dorp\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"block\""), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean"), std::string::npos) << out;
  EXPECT_NE(out.find("flush_interval"), std::string::npos) << out;
}

TEST(cli, check_config_accepts_the_default_and_the_examples) {
  for (auto f : {"config/default.toml", "config/examples/forward-tcp.toml",
                 "config/examples/jsonl-file.toml", "config/examples/antrea.toml"}) {
    std::string out;
    auto rc = fa::test::run_command(
        {fa::test::binary("app/flow-aggregator"), "check-config", "-c", fa::test::source(f)}, out);
    EXPECT_EQ(rc, 0) << f << ": " << out;
  }
}

TEST(cli, version_and_usage) {
  std::string out;
  EXPECT_EQ(fa::test::run_command({fa::test::binary("app/flow-aggregator"), "version"}, out), 0);
  EXPECT_NE(out.find("flow-aggregator 0."), std::string::npos) << out;
  EXPECT_EQ(fa::test::run_command({fa::test::binary("app/flow-aggregator"), "frobnicate"}, out), 2);
  EXPECT_NE(out.find("unknown command"), std::string::npos) << out;
}

// `run` with a jsonl destination: each record becomes one JSON object with element names,
// the appended provenance included; SIGTERM stops it with exit code 0.
TEST(cli, run_writes_enriched_records_as_json_lines) {
  auto dir = fa::test::scratch_dir("cli_run");
  auto jsonl = dir + "/records.jsonl";
  auto cfg = write(dir + "/fa.toml", "cluster_id = \"cluster-a\"\n[collector]\n"
                                     "listen = [\"tcp://127.0.0.1:0\"]\n[[destination]]\n"
                                     "name = \"file\"\nurl = \"jsonl:" +
                                         jsonl + "\"\n[admin]\nlisten = \"\"\n");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  fa::test::process fa{{fa::test::binary("app/flow-aggregator"), "run", "-c", cfg},
                       dir + "/fa.out",
                       dir + "/fa.err"};
  std::smatch m;
  std::string log;
  ASSERT_TRUE(fa::test::eventually(
      [&] {
        log = fa::test::read_file(dir + "/fa.err");
        return std::regex_search(log, m, std::regex{" port=([0-9]+)"});
      },
      20s))
      << log;
  auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  ASSERT_EQ(fa::test::run_loadgen(port, {"--records", "25", "--odid-base", "77"}), 0);
  std::string text;
  ASSERT_TRUE(fa::test::eventually([&] {
    text = fa::test::read_file(jsonl);
    return count_lines(text) >= 25;
  }));
  EXPECT_EQ(count_lines(text), 25);
  auto first = nlohmann::json::parse(text.substr(0, text.find('\n')));
  EXPECT_EQ(first.value("originalObservationDomainId", 0), 77) << first.dump();
  EXPECT_EQ(first.value("originalExporterIPv4Address", ""), "127.0.0.1") << first.dump();
  EXPECT_TRUE(first.contains("sourceIPv4Address")) << first.dump();
  fa.signal(SIGTERM);
  EXPECT_EQ(fa.wait(30s), 0);
}

// The TOML shipped in deploy/kubernetes/configmap.yaml is a valid configuration.
TEST(cli, the_kubernetes_configmap_passes_check_config) {
  auto dir = fa::test::scratch_dir("cli_configmap");
  std::ifstream in{fa::test::source("deploy/kubernetes/configmap.yaml")};
  ASSERT_TRUE(in);
  std::string line, toml;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.find("config.toml: |") != std::string::npos) {
      inside = true;
      continue;
    }
    if (inside) // the block scalar: indented by four spaces (or empty lines)
      toml += (line.size() >= 4 ? line.substr(4) : std::string{}) + "\n";
  }
  ASSERT_NE(toml.find("[collector]"), std::string::npos) << toml;
  auto file = write(dir + "/config.toml", toml);
  std::string out;
  auto rc = fa::test::run_command(
      {fa::test::binary("app/flow-aggregator"), "check-config", "-c", file}, out);
  EXPECT_EQ(rc, 0) << out;
}
