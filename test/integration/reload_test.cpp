// Hot reload (issue 5, Lifecycle): the real flow-aggregator binary reloads its config on
// SIGHUP and when the file changes, without dropping exporter sessions. Destinations come
// and go, enrichment toggles change the next records, the log level applies at once, an
// invalid file is refused with check-config's errors, and keys that need a restart are
// reported.

#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

struct fa_options {
  std::vector<std::pair<std::string, std::uint16_t>> destinations; ///< name, collector port
  std::string runtime;                                             ///< extra [runtime] keys
  std::string sections; ///< extra sections ([enrichment], ...)
  std::string collector = "max_sessions = 100\n";
};

std::string fa_config(const fa_options& o) {
  std::string s = "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                  "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n" +
                  o.collector +
                  "[admin]\nlisten = \"127.0.0.1:0\"\n"
                  "[runtime]\nlog_format = \"json\"\nworkers = 2\n" +
                  o.runtime + o.sections;
  for (const auto& [name, port] : o.destinations)
    s += "[[destination]]\nname = \"" + name +
         "\"\nurl = \"ipfix+tcp://127.0.0.1:" + std::to_string(port) +
         "\"\nflush_interval = \"5ms\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n";
  return s;
}

/// One paced exporter session that lasts several seconds, so a reload lands in its
/// middle on a loaded machine too.
std::unique_ptr<process> paced_loadgen(std::uint16_t port, int records, const std::string& dir) {
  return start_loadgen(port,
                       {"--sessions", "1", "--records", std::to_string(records), "--rate", "2000",
                        "--template", "antrea-v4", "--seed", "1", "--odid-base", "1000"},
                       dir + "/loadgen.err");
}

std::uint64_t sent(fa_process& fa, const std::string& name) {
  auto d = fa.destination(name);
  return d.is_null() ? 0 : d.value("sent_records", std::uint64_t{0});
}

TEST(reload, adds_a_destination_without_dropping_sessions) {
  auto dir = scratch_dir("reload_add");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr int records = 16000;
  collector a{
      dir,
      {"--verify", "1", "--expect-odids", "1000:1", "--expect-records", std::to_string(records)}};
  collector b{dir, {"--verify", "1"}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  auto gen = paced_loadgen(fa.port(), records, dir);
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") > 500; }, 30s)) << fa.log();
  auto before = fa.session_ids();
  ASSERT_EQ(before.size(), 1u);

  o.destinations.emplace_back("b", b.port());
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  // Records start arriving at the second collector while the session goes on.
  EXPECT_TRUE(eventually([&] { return sent(fa, "b") > 0; }, 30s)) << fa.log();
  EXPECT_EQ(fa.session_ids(), before);
  EXPECT_TRUE(gen->running()) << "the exporter finished before the check; not a mid-stream reload";
  auto cfg = fa.api("/api/v1/config");
  ASSERT_EQ(cfg["destination"].size(), 2u) << cfg.dump();
  EXPECT_EQ(cfg["destination"][1]["name"], "b");

  EXPECT_EQ(gen->wait(60s), 0);
  // One exporter connection from start to end: it was never dropped or reconnected.
  EXPECT_EQ(fa.metric("flow_aggregator_sessions_accepted_total"), 1);
  EXPECT_EQ(fa.terminate(), 0) << fa.log();
  a.stop();
  b.stop();
  auto ra = a.report();
  auto rb = b.report();
  // The first destination lost nothing across the reload.
  EXPECT_EQ(ra["records"], records);
  EXPECT_EQ(ra["verified"], records);
  EXPECT_EQ(ra["missing"], 0);
  EXPECT_EQ(ra["duplicates"], 0);
  EXPECT_EQ(ra["connections"], 1);
  // The second got the rest of the stream, intact.
  EXPECT_GT(rb["records"].get<std::uint64_t>(), 0u);
  EXPECT_LT(rb["records"].get<std::uint64_t>(), static_cast<std::uint64_t>(records));
  EXPECT_EQ(rb["verified"], rb["records"]);
  EXPECT_EQ(rb["duplicates"], 0);
  EXPECT_EQ(rb["sequence_errors"], 0);
}

TEST(reload, removes_a_destination_after_draining_it) {
  auto dir = scratch_dir("reload_remove");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr int records = 16000;
  collector a{
      dir,
      {"--verify", "1", "--expect-odids", "1000:1", "--expect-records", std::to_string(records)}};
  collector b{dir, {"--verify", "1"}};
  fa_options o;
  o.destinations = {{"a", a.port()}, {"b", b.port()}};
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  auto gen = paced_loadgen(fa.port(), records, dir);
  ASSERT_TRUE(eventually([&] { return sent(fa, "b") > 500; }, 30s)) << fa.log();
  auto before = fa.session_ids();

  o.destinations.pop_back();
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_TRUE(fa.destination("b").is_null());
  EXPECT_FALSE(fa.destination("a").is_null());
  EXPECT_EQ(fa.session_ids(), before);
  EXPECT_TRUE(gen->running());
  auto reloaded = log_events(fa.log(), "config reloaded");
  ASSERT_FALSE(reloaded.empty());
  EXPECT_EQ(reloaded.back()["destinations_removed"], "1");

  EXPECT_EQ(gen->wait(60s), 0);
  EXPECT_EQ(fa.metric("flow_aggregator_sessions_accepted_total"), 1);
  // Its collector was up: the drain sent everything, nothing was counted as dropped.
  EXPECT_EQ(fa.metric("flow_aggregator_records_dropped_total",
                      {{"destination", "b"}, {"reason", "removed"}}),
            0);
  EXPECT_EQ(fa.metric("flow_aggregator_destination_up", {{"destination", "b"}}), 0);
  EXPECT_EQ(fa.metric("flow_aggregator_destination_up", {{"destination", "a"}}), 1);
  EXPECT_EQ(fa.terminate(), 0) << fa.log();
  a.stop();
  b.stop();
  auto ra = a.report();
  auto rb = b.report();
  EXPECT_EQ(ra["records"], records);
  EXPECT_EQ(ra["verified"], records);
  EXPECT_EQ(ra["missing"], 0);
  // The removed destination stopped in mid-stream, and what it was given arrived whole.
  EXPECT_GT(rb["records"].get<std::uint64_t>(), 500u);
  EXPECT_LT(rb["records"].get<std::uint64_t>(), static_cast<std::uint64_t>(records));
  EXPECT_EQ(rb["verified"], rb["records"]);
  EXPECT_EQ(rb["sequence_errors"], 0);
}

TEST(reload, removing_a_hash_destination_moves_its_exporter_without_loss) {
  auto dir = scratch_dir("reload_remove_hash");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr int records = 16000;
  collector a{dir, {"--verify", "1"}};
  collector b{dir, {"--verify", "1"}};
  fa_options o;
  o.destinations = {{"a", a.port()}, {"b", b.port()}};
  o.sections = "[fanout]\nmode = \"hash\"\n";
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  auto gen = paced_loadgen(fa.port(), records, dir);
  // The one exporter sticks to one destination: remove that one.
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") + sent(fa, "b") > 500; }, 30s)) << fa.log();
  const bool on_a = sent(fa, "a") > 0;
  EXPECT_EQ(sent(fa, on_a ? "b" : "a"), 0u);
  o.destinations.erase(o.destinations.begin() + (on_a ? 0 : 1));
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_TRUE(gen->running());
  EXPECT_EQ(gen->wait(60s), 0);
  EXPECT_EQ(fa.metric("flow_aggregator_sessions_accepted_total"), 1);
  EXPECT_EQ(fa.terminate(), 0) << fa.log();
  a.stop();
  b.stop();
  auto ra = a.report();
  auto rb = b.report();
  // The rest of its stream went to the remaining destination: together, every record
  // exactly once.
  auto& removed = on_a ? ra : rb;
  auto& kept = on_a ? rb : ra;
  EXPECT_GT(removed["records"].get<std::uint64_t>(), 0u);
  EXPECT_GT(kept["records"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(ra["records"].get<std::uint64_t>() + rb["records"].get<std::uint64_t>(),
            static_cast<std::uint64_t>(records));
  EXPECT_EQ(ra["verified"], ra["records"]);
  EXPECT_EQ(rb["verified"], rb["records"]);
  EXPECT_EQ(ra["duplicates"], 0);
  EXPECT_EQ(rb["duplicates"], 0);
}

TEST(reload, invalid_config_is_rejected_with_the_errors_of_check_config) {
  auto dir = scratch_dir("reload_invalid");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  collector a{dir, {"--verify", "1"}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  auto good = fa_config(o);
  auto path = dir + "/fa.toml";
  fa_process fa{dir, path, good};
  auto cfg_before = fa.api("/api/v1/config");

  // Two mistakes: an unknown key and a bad value.
  auto bad = good + "on_full = \"dorp\"\nflush_intervall = \"5ms\"\n";
  EXPECT_FALSE(fa.reload(bad));
  EXPECT_EQ(fa.reloads("failure"), 1);
  EXPECT_EQ(fa.reloads("success"), 0);
  EXPECT_EQ(fa.metric("flow_aggregator_config_last_reload_success_timestamp_seconds") > 0, true);

  // The log carries each error exactly as `flow-aggregator check-config` prints it.
  std::string out;
  EXPECT_EQ(run_command({binary("app/flow-aggregator"), "check-config", "-c", path}, out), 1);
  std::vector<std::string> expected;
  std::istringstream lines{out};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty())
      expected.push_back(line);
  ASSERT_EQ(expected.size(), 2u) << out;
  std::vector<std::string> logged;
  for (const auto& e : log_events(fa.log(), "config error"))
    logged.push_back(e.value("error", ""));
  EXPECT_EQ(logged, expected) << fa.log();

  // The old config stays, and records still flow through it.
  EXPECT_EQ(fa.api("/api/v1/config"), cfg_before);
  EXPECT_EQ(run_loadgen(fa.port(), {"--records", "500", "--template", "antrea-v4"}), 0);
  EXPECT_TRUE(eventually([&] { return sent(fa, "a") == 500; }, 30s)) << fa.log();
  EXPECT_EQ(fa.terminate(), 0) << fa.log();
}

TEST(reload, enrichment_toggle_changes_the_next_records) {
  auto dir = scratch_dir("reload_enrichment");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr int records = 12000;
  collector a{dir,
              {"--verify", "1", "--expect-odids", "1000:1", "--expect-records",
               std::to_string(records), "--print"}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  o.sections = "[enrichment]\nantrea = true\n";
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  auto gen = paced_loadgen(fa.port(), records, dir);
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") > 1000; }, 30s)) << fa.log();
  auto before = fa.session_ids();

  o.sections = "[enrichment]\nantrea = false\n";
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_TRUE(gen->running());
  EXPECT_EQ(gen->wait(60s), 0);
  EXPECT_TRUE(eventually([&] { return fa.session_ids().empty(); }, 30s)); // ended normally...
  EXPECT_EQ(fa.metric("flow_aggregator_sessions_accepted_total"), 1);     // ...and only once
  EXPECT_EQ(fa.terminate(), 0) << fa.log();
  a.stop();
  auto report = a.report();
  EXPECT_EQ(report["records"], records);
  EXPECT_EQ(report["verified"], records);
  EXPECT_EQ(report["missing"], 0);
  EXPECT_EQ(report["sequence_errors"], 0);
  EXPECT_TRUE(report["malformed"].empty()) << report.dump();
  EXPECT_EQ(report["unknown_template_records"], 0);
  // One session, in order: records with the Antrea fields (clusterId, flowDirection),
  // then, from the reload on, records without, under a second output template. The
  // collector verified every one against what the exporter sent, by the provenance
  // fields (405), which stay.
  std::istringstream in{read_file(a.out_file())};
  std::uint64_t with = 0, without = 0, back = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line);
    bool has = j.contains("clusterId");
    EXPECT_EQ(has, j.contains("flowDirection"));
    if (has && without > 0)
      ++back;
    (has ? with : without) += 1;
    EXPECT_TRUE(j.contains("originalObservationDomainId")) << line;
  }
  EXPECT_EQ(with + without, static_cast<std::uint64_t>(records));
  EXPECT_GT(with, 1000u);
  EXPECT_GT(without, 0u);
  EXPECT_EQ(back, 0u) << "records with the Antrea fields after the first one without";
  EXPECT_GE(report["templates_distinct"].get<int>(), 2);
}

/// One record from 10.0.0.5 to 10.0.0.6 with its template.
std::vector<std::uint8_t> one_record() {
  return flow_message(0, 5, {{0x0a000005, 0x0a000006}});
}

TEST(reload, label_source_change_restarts_the_label_cache) {
  auto dir = scratch_dir("reload_labels");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  auto pods = dir + "/pods.json";
  std::ofstream{pods}
      << R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"2024-05-01T10:00:00Z",)"
         R"("labels":{"app":"web"},"name":"web-1","namespace":"shop","resourceVersion":"1",)"
         R"("uid":"u-1"},"spec":{"nodeName":"kind-worker"},"status":{"phase":"Running",)"
         R"("podIP":"10.0.0.5","podIPs":[{"ip":"10.0.0.5"}]}})"
      << "\n";
  collector a{dir, {"--print"}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  o.sections = "[enrichment]\nlabels_for_foreign_records = true\n";
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  EXPECT_EQ(fa.api("/api/v1/labels")["source"], "none");
  send_raw(fa.port(), one_record());
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") == 1; }, 30s)) << fa.log();

  o.sections += "[labels]\nsource = \"file\"\nfile = \"" + pods + "\"\n";
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  json labels;
  EXPECT_TRUE(eventually(
      [&] {
        labels = fa.api("/api/v1/labels?ip=10.0.0.5");
        return labels.value("ready", false) && labels.value("pods", 0) == 1;
      },
      30s))
      << labels.dump();
  EXPECT_EQ(labels["source"], "file");
  EXPECT_EQ(labels["lookup"]["pods"][0]["name"], "web-1") << labels.dump();
  EXPECT_TRUE(eventually([&] { return http_get(fa.admin(), "/readyz").status == 200; }, 30s));
  // The enrichers hold the new cache's index: the next record gets the Pod's labels.
  send_raw(fa.port(), one_record());
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") == 2; }, 30s)) << fa.log();

  // Back to no source: the index is gone with the cache.
  o.sections = "[enrichment]\nlabels_for_foreign_records = true\n";
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_EQ(fa.api("/api/v1/labels")["source"], "none");
  send_raw(fa.port(), one_record());
  ASSERT_TRUE(eventually([&] { return sent(fa, "a") == 3; }, 30s)) << fa.log();

  EXPECT_EQ(fa.terminate(), 0);
  a.stop();
  a.report();
  std::vector<std::string> seen;
  std::istringstream in{read_file(a.out_file())};
  for (std::string line; std::getline(in, line);)
    seen.push_back(json::parse(line).value("sourcePodLabels", "?"));
  EXPECT_EQ(seen, (std::vector<std::string>{"", R"({"app":"web"})", ""}));
}

TEST(reload, log_level_applies_at_once) {
  auto dir = scratch_dir("reload_log_level");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  collector a{dir, {}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  o.runtime = "log_level = \"info\"\n";
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};
  EXPECT_EQ(run_loadgen(fa.port(), {"--records", "100"}), 0);
  EXPECT_TRUE(eventually([&] { return sent(fa, "a") == 100; }, 30s));
  EXPECT_TRUE(log_events(fa.log(), "session opened").empty()) << "debug line at level info";

  o.runtime = "log_level = \"debug\"\n";
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_EQ(run_loadgen(fa.port(), {"--records", "100"}), 0);
  EXPECT_TRUE(eventually([&] { return !log_events(fa.log(), "session opened").empty(); }, 30s))
      << fa.log();
  EXPECT_EQ(fa.api("/api/v1/config")["runtime"]["log_level"], "debug");

  // At "warn" the info line of the reload itself is no longer written.
  auto infos = log_events(fa.log(), "config reloaded").size();
  o.runtime = "log_level = \"warn\"\n";
  ASSERT_TRUE(fa.reload(fa_config(o))) << fa.log();
  EXPECT_EQ(log_events(fa.log(), "config reloaded").size(), infos);
  EXPECT_EQ(fa.terminate(), 0);
}

TEST(reload, config_file_change_is_noticed_without_sighup) {
  auto dir = scratch_dir("reload_file_change");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  collector a{dir, {}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  // A Kubernetes ConfigMap volume: config.toml -> ..data/config.toml, ..data -> ..v1.
  namespace fs = std::filesystem;
  auto cm = dir + "/cm";
  fs::create_directories(cm + "/..v1");
  fs::create_directories(cm + "/..v2");
  std::ofstream{cm + "/..v1/config.toml"} << fa_config(o);
  fs::create_directory_symlink("..v1", cm + "/..data");
  fs::create_symlink("..data/config.toml", cm + "/config.toml");
  fa_process fa{dir, cm + "/config.toml"};
  ASSERT_NE(fa.admin(), 0);

  // The kubelet's update: the new version in a new directory, then ..data swapped
  // atomically by renaming a new symlink over it.
  o.runtime = "log_level = \"debug\"\n";
  std::ofstream{cm + "/..v2/config.toml"} << fa_config(o);
  fs::create_directory_symlink("..v2", cm + "/..data_tmp");
  ASSERT_EQ(std::rename((cm + "/..data_tmp").c_str(), (cm + "/..data").c_str()), 0);
  EXPECT_TRUE(eventually([&] { return fa.reloads("success") == 1; }, 30s)) << fa.log();
  EXPECT_EQ(fa.api("/api/v1/config")["runtime"]["log_level"], "debug");
  auto reloads = log_events(fa.log(), "config reload");
  ASSERT_EQ(reloads.size(), 1u) << fa.log();
  EXPECT_EQ(reloads[0]["trigger"], "file_change");

  // An edit in place (same inode) is noticed too.
  o.runtime = "log_level = \"error\"\n";
  std::ofstream{cm + "/..v2/config.toml", std::ios::trunc} << fa_config(o);
  EXPECT_TRUE(eventually([&] { return fa.reloads("success") == 2; }, 30s)) << fa.log();
  EXPECT_EQ(fa.api("/api/v1/config")["runtime"]["log_level"], "error");
  EXPECT_EQ(fa.reloads("failure"), 0);
  EXPECT_EQ(fa.terminate(), 0);
}

TEST(reload, keys_that_need_a_restart_are_reported_and_the_rest_applies) {
  auto dir = scratch_dir("reload_restart_needed");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  collector a{dir, {}};
  fa_options o;
  o.destinations = {{"a", a.port()}};
  fa_process fa{dir, dir + "/fa.toml", fa_config(o)};

  auto changed = o;
  changed.runtime = "log_level = \"debug\"\nenrichers = 3\n";
  changed.collector = "max_sessions = 50\n";
  ASSERT_TRUE(fa.reload(fa_config(changed))) << fa.log();
  auto restart = log_events(fa.log(), "restart needed");
  ASSERT_EQ(restart.size(), 1u) << fa.log();
  EXPECT_EQ(restart[0]["keys"], "collector.max_sessions,runtime.enrichers");
  EXPECT_EQ(fa.metric("flow_aggregator_config_restart_required", {{"key", "runtime.enrichers"}}),
            1);
  EXPECT_EQ(
      fa.metric("flow_aggregator_config_restart_required", {{"key", "collector.max_sessions"}}), 1);
  // The effective config keeps the running values of those keys, and has the rest.
  auto cfg = fa.api("/api/v1/config");
  EXPECT_EQ(cfg["runtime"]["log_level"], "debug");
  EXPECT_EQ(cfg["runtime"]["enrichers"], 0);
  EXPECT_EQ(cfg["collector"]["max_sessions"], 100);

  // Back to the running values: nothing waits for a restart any more.
  auto back = o;
  back.runtime = "log_level = \"debug\"\n";
  ASSERT_TRUE(fa.reload(fa_config(back))) << fa.log();
  EXPECT_EQ(log_events(fa.log(), "restart needed").size(), 1u);
  EXPECT_EQ(fa.metric("flow_aggregator_config_restart_required", {{"key", "runtime.enrichers"}}),
            0);
  EXPECT_EQ(fa.terminate(), 0);
}

} // namespace
} // namespace fa::test
