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

TEST(cli, check_config_warns_of_fanout_flow_with_one_destination) {
  auto dir = fa::test::scratch_dir("cli_check_warn");
  auto file = write(dir + "/one.toml", "[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n"
                                       "[[destination]]\nname = \"x\"\nurl = \"jsonl:stdout\"\n"
                                       "[fanout]\nmode = \"flow\"\n");
  std::string out;
  auto rc = fa::test::run_command(
      {fa::test::binary("app/flow-aggregator"), "check-config", "-c", file}, out);
  EXPECT_EQ(rc, 0) << out; // valid, only probably not what was meant
  EXPECT_NE(out.find("one.toml: warning: fanout.mode = \"flow\" with one destination"),
            std::string::npos)
      << out;
}

TEST(cli, check_config_warns_of_a_scaled_out_shard_agents_can_reach) {
  auto dir = fa::test::scratch_dir("cli_check_shard");
  auto file =
      write(dir + "/shard.toml", "mode = \"aggregate\"\n[collector]\n"
                                 "listen = [\"tcp://0.0.0.0:4739\", \"grpc://0.0.0.0:14739\"]\n\n"
                                 "[[destination]]\nname = \"x\"\nurl = \"jsonl:stdout\"\n"
                                 "[aggregate]\nscaled_out = true\n");
  std::string out;
  auto rc = fa::test::run_command(
      {fa::test::binary("app/flow-aggregator"), "check-config", "-c", file}, out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("shard.toml: warning: aggregate.scaled_out = true with the listener "
                     "\"grpc://0.0.0.0:14739\": agents exporting to it directly bypass"),
            std::string::npos)
      << out;
}

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

// The TOML shipped in deploy/kubernetes/proxy/configmap.yaml is a valid configuration.
TEST(cli, the_kubernetes_configmap_passes_check_config) {
  auto dir = fa::test::scratch_dir("cli_configmap");
  std::ifstream in{fa::test::source("deploy/kubernetes/proxy/configmap.yaml")};
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

// `inspect` against a running instance: tables with the live sessions, JSON with -o json,
// the admin address and token taken from the same config, clear errors otherwise.
TEST(cli, inspect_prints_sessions_and_destinations_of_a_running_instance) {
  auto dir = fa::test::scratch_dir("cli_inspect");
  std::ofstream{dir + "/token"} << "inspect-token\n";
  fa::test::collector col{dir, {}};
  auto cfg =
      write(dir + "/fa.toml",
            "cluster_id = \"cluster-a\"\n[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
            "[[destination]]\nname = \"downstream\"\nurl = \"ipfix+tcp://127.0.0.1:" +
                std::to_string(col.port()) +
                "\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"" + dir + "/token\"\n");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  fa::test::process fa{{fa::test::binary("app/flow-aggregator"), "run", "-c", cfg},
                       dir + "/fa.out",
                       dir + "/fa.err"};
  std::smatch port, admin;
  std::string log;
  ASSERT_TRUE(fa::test::eventually(
      [&] {
        log = fa::test::read_file(dir + "/fa.err");
        return std::regex_search(log, port, std::regex{" port=([0-9]+)"}) &&
               std::regex_search(log, admin, std::regex{"admin_port=([0-9]+)"});
      },
      20s))
      << log;
  auto where = "127.0.0.1:" + admin[1].str();
  auto gen = fa::test::start_loadgen(static_cast<std::uint16_t>(std::stoi(port[1])),
                                     {"--sessions", "3", "--records", "600", "--rate", "300"});
  auto inspect = [&](std::vector<std::string> args, std::string& out) {
    std::vector<std::string> argv{fa::test::binary("app/flow-aggregator"), "inspect"};
    argv.insert(argv.end(), args.begin(), args.end());
    return fa::test::run_command(argv, out);
  };
  std::string out;
  // The token file named in the config is used; --admin points at the ephemeral port.
  ASSERT_TRUE(fa::test::eventually([&] {
    return inspect({"sessions", "-c", cfg, "--admin", where}, out) == 0 && count_lines(out) == 4;
  })) << out;
  EXPECT_EQ(out.rfind("ID", 0), 0u) << out;
  EXPECT_NE(out.find("TRANSPORT"), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.1:"), std::string::npos) << out;
  // Templates: input -> output with element names; the appended provenance fields last.
  ASSERT_EQ(inspect({"templates", "-c", cfg, "--admin", where, "-o", "json"}, out), 0) << out;
  auto templates = nlohmann::json::parse(out);
  ASSERT_EQ(templates.size(), 3u) << out; // one per open session
  auto& t = templates[0];
  EXPECT_EQ(t["input_template"], 256);
  EXPECT_NE(t["output_template"], 0);
  EXPECT_EQ(t["input_fields"][0]["name"], "sourceIPv4Address") << t.dump();
  std::vector<std::string> appended;
  for (auto& f : t["appended_fields"])
    appended.push_back(f["name"]);
  EXPECT_EQ(appended,
            (std::vector<std::string>{"originalObservationDomainId", "originalExporterIPv4Address",
                                      "originalExporterIPv6Address"}))
      << t.dump();
  ASSERT_EQ(inspect({"templates", "-c", cfg, "--admin", where}, out), 0);
  EXPECT_NE(out.find("originalExporterIPv4Address"), std::string::npos) << out;
  ASSERT_EQ(inspect({"destinations", "-c", cfg, "--admin", where, "-o", "json"}, out), 0) << out;
  auto dests = nlohmann::json::parse(out);
  ASSERT_EQ(dests.size(), 1u);
  EXPECT_EQ(dests[0]["name"], "downstream");
  EXPECT_EQ(inspect({"destinations", "-c", cfg, "--admin", where}, out), 0);
  EXPECT_NE(out.find("downstream"), std::string::npos) << out;
  EXPECT_NE(out.find("connected"), std::string::npos) << out;
  // Without the token: refused, and the message says what to do.
  EXPECT_EQ(inspect({"sessions", "--admin", where}, out), 1);
  EXPECT_NE(out.find("--token-file"), std::string::npos) << out;
  EXPECT_EQ(inspect({"frobs", "--admin", where}, out), 2);
  gen->wait(60s);
  fa.signal(SIGTERM);
  EXPECT_EQ(fa.wait(30s), 0);
  // Nothing listens any more: a clear error, exit 1.
  EXPECT_EQ(inspect({"sessions", "--admin", where}, out), 1);
  EXPECT_NE(out.find("cannot reach the admin API"), std::string::npos) << out;
  col.stop();
}
