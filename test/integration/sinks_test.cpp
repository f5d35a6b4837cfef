// The ClickHouse and flow-log destinations end to end (issue 12): loadgen sessions ->
// flow-aggregator -> a real clickhouse-server / real files. In proxy mode every record
// sent is checked against the record regenerated from (seed, ODID, index) and decoded by
// the IPFIX JSON decoder, column by column; in aggregate mode every exported record (as a
// JSON-lines destination beside it decodes it) against its row.

#include "ipfix/record.hpp"
#include "ipfix/record_json.hpp"
#include "sinks/clickhouse_rows.hpp"
#include "sinks/flow_log_line.hpp"
#include "sinks/flow_record.hpp"
#include "test/integration/fa_process.hpp"
#include "test/integration/harness.hpp"
#include "test/support/clickhouse_server.hpp"
#include "tools/common/loadgen_content.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using fa::test::clickhouse_server;
using fa::test::metric;
using fa::test::running;
namespace messages = fa::messages;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t seed = 7;
constexpr std::uint32_t odid = 1000; // loadgen's first session

const char* cluster = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"; // test_config's cluster_id

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

/// TabSeparated unescaping (\t, \n, \\, \').
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c == '0' ? '\0' : c;
  }
  return out;
}

/// Unix seconds of an RFC 3339 UTC text from the JSON decoder.
std::string unix_seconds(const std::string& rfc3339) {
  std::tm tm{};
  strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return std::to_string(timegm(&tm));
}

/// The loadgen record `index` of the test's session, decoded by element name.
nlohmann::json regenerated(std::uint64_t index) {
  auto def = fa::tools::make_template(fa::tools::template_kind::antrea_v4, 256);
  std::vector<std::uint8_t> rec;
  fa::tools::append_record(fa::tools::template_kind::antrea_v4, seed, odid, index, rec);
  std::string text;
  fa::ipfix::record_layout layout{def};
  fa::ipfix::append_record_json(text, def, layout, {rec.data(), rec.size()});
  return nlohmann::json::parse(text);
}

/// What each ClickHouse column must hold for a record decoded as `j`, by Antrea's
/// mapping (antrea-clickhouse-export.md 2.2), written here independently of the code.
std::string expected(const nlohmann::json& j, std::string_view column) {
  static const std::map<std::string_view, std::vector<std::string>> sources{
      {"sourceIP", {"sourceIPv4Address", "sourceIPv6Address"}},
      {"destinationIP", {"destinationIPv4Address", "destinationIPv6Address"}},
      {"destinationClusterIP", {"destinationClusterIPv4", "destinationClusterIPv6"}},
  };
  if (column == "clusterUUID")
    return cluster;
  std::vector<std::string> names{std::string{column}};
  if (auto it = sources.find(column); it != sources.end())
    names = it->second;
  for (const auto& n : names) {
    if (!j.contains(n))
      continue;
    const auto& v = j[n];
    if (v.is_number())
      return std::to_string(v.get<std::uint64_t>());
    auto s = v.get<std::string>();
    if (column.starts_with("flowStart") || column.starts_with("flowEnd"))
      return unix_seconds(s);
    if (column == "destinationClusterIP" && (s == "0.0.0.0" || s == "::"))
      return ""; // no Service
    return s;
  }
  auto type = fa::sinks::column_type::string;
  for (auto c : fa::sinks::clickhouse_columns())
    if (fa::sinks::info(c).name == column)
      type = fa::sinks::info(c).type;
  return type == fa::sinks::column_type::string ? "" : "0";
}

std::string clickhouse_url(const clickhouse_server& s, const std::string& extra = "") {
  return "[[destination]]\nname = \"ch\"\nurl = \"clickhouse+http://127.0.0.1:" +
         std::to_string(s.http_port()) +
         "/?database=default&table=flows\"\ncommit_interval = \"100ms\"\nmax_rows = 700\n"
         "reconnect_min = \"100ms\"\nreconnect_max = \"400ms\"\n" +
         extra;
}

std::string select_columns() {
  std::string cols;
  for (auto c : fa::sinks::clickhouse_columns()) {
    auto name = std::string{fa::sinks::info(c).name};
    cols += (cols.empty() ? "" : ", ") +
            (fa::sinks::info(c).type == fa::sinks::column_type::date_time ? "toUInt32(" + name + ")"
                                                                          : name);
  }
  return cols;
}

/// Checks every row of `flows` against the regenerated records 0..n-1: each exactly once.
void expect_rows_match(const clickhouse_server& s, std::uint64_t n) {
  auto text = s.must("SELECT " + select_columns() +
                     " FROM flows ORDER BY packetTotalCount FORMAT TabSeparated");
  std::istringstream in{text};
  std::string line;
  std::uint64_t rows = 0;
  auto cols = fa::sinks::clickhouse_columns();
  while (std::getline(in, line)) {
    auto values = split(line, '\t');
    ASSERT_EQ(values.size(), cols.size()) << line;
    // packetTotalCount is index + 1 (tools/common/loadgen_content.hpp).
    auto index = std::stoull(values[10]) - 1;
    ASSERT_EQ(index, rows) << "a record missing or twice";
    auto j = regenerated(index);
    for (std::size_t i = 0; i < cols.size(); ++i)
      ASSERT_EQ(unescape(values[i]), expected(j, fa::sinks::info(cols[i]).name))
          << fa::sinks::info(cols[i]).name << " of record " << index << "\n"
          << j.dump();
    ++rows;
  }
  EXPECT_EQ(rows, n);
}

double histogram_count(fa::app::supervisor& sup, const std::string& name) {
  double n = 0;
  for (auto& fam : sup.metrics().registry()->Collect())
    if (fam.name == name)
      for (auto& m : fam.metric)
        n += static_cast<double>(m.histogram.sample_count);
  return n;
}

std::uint64_t rows_in(const clickhouse_server& s) {
  auto out = s.query("SELECT count() FROM flows");
  return out.empty() || !std::isdigit(static_cast<unsigned char>(out[0])) ? 0 : std::stoull(out);
}

TEST(clickhouse_destination, every_record_arrives_as_one_row_with_its_values) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_every_record");
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must(fa::sinks::create_table_statement("default", "flows"));
  constexpr int records = 3000;
  running fa{fa::test::test_config(clickhouse_url(s))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                            "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  EXPECT_TRUE(fa::test::eventually([&] { return rows_in(s) >= records; }, 60s)) << rows_in(s);
  expect_rows_match(s, records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_clickhouse_rows_inserted_total"), records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_sent_total", {{"destination", "ch"}}), records);
  // max_rows = 700 (a batch never splits an enriched batch, which may hold more).
  auto inserts = metric(fa.sup, "flow_aggregator_clickhouse_inserts_total");
  EXPECT_GE(inserts, 2);
  EXPECT_EQ(histogram_count(fa.sup, "flow_aggregator_clickhouse_insert_duration_seconds"), inserts);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_clickhouse_queued_rows"), 0);
  auto dests = fa.sup.destinations();
  ASSERT_EQ(dests.size(), 1u);
  EXPECT_EQ(dests[0].url, "clickhouse+http://127.0.0.1:" + std::to_string(s.http_port()) +
                              "/?database=default&table=flows");
  EXPECT_EQ(dests[0].sent_records, records);
  EXPECT_EQ(dests[0].state, "connected");
}

std::string flow_log_destination(const std::string& path, const std::string& extra = "");

// mode = "aggregate": the load generator plays both Nodes of inter-Node flows; every
// record flow-aggregator exports (seen by a JSON-lines destination beside ClickHouse's)
// arrives as exactly one row, each column mapped from the exported record's elements by
// the same rules as in proxy mode, here with the per-Node end times and throughputs.
TEST(clickhouse_destination, every_aggregated_record_arrives_as_one_row_with_its_values) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_aggregate");
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must(fa::sinks::create_table_statement("default", "flows"));
  constexpr int flows = 200;
  running fa{fa::test::test_config(
      clickhouse_url(s) + "[[destination]]\nname = \"file\"\nurl = \"jsonl:" + dir +
          "/out.jsonl\"\n" + flow_log_destination(dir + "/flows.csv", "pretty_print = false\n"),
      "mode = \"aggregate\"\n[aggregate]\nactive_timeout = \"1s\"\ninactive_timeout = \"30s\"\n")};
  // Two rounds a Node and flow: most flows are exported while the load runs, the rest
  // when the supervisor drains.
  ASSERT_EQ(fa::test::run_loadgen(fa.port,
                                  {"--sessions", "2", "--pairs", std::to_string(flows), "--records",
                                   std::to_string(2 * flows), "--template", "antrea-v4", "--seed",
                                   std::to_string(seed), "--rate", std::to_string(2 * flows)}),
            0);
  ASSERT_TRUE(fa::test::eventually(
      [&] { return metric(fa.sup, "flow_aggregator_aggregate_records_total") >= 4 * flows; }));
  EXPECT_EQ(fa.sup.stop(60s), 0u);
  // The rows each exported record must give, as TabSeparated lines.
  std::vector<std::string> want;
  std::ifstream in{dir + "/out.jsonl"};
  std::string line;
  std::uint64_t with_throughput = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    std::string row;
    for (auto c : fa::sinks::clickhouse_columns())
      row += (row.empty() ? "" : "\t") + expected(j, fa::sinks::info(c).name);
    want.push_back(row);
    with_throughput += j.value("throughputFromSourceNode", std::uint64_t{0}) != 0 ? 1 : 0;
  }
  ASSERT_GE(want.size(), static_cast<std::size_t>(flows)) << "every flow exported";
  EXPECT_GT(with_throughput, 0u) << "the aggregation columns are exercised";
  std::vector<std::string> got;
  std::istringstream rows{s.must("SELECT " + select_columns() + " FROM flows FORMAT TabSeparated")};
  while (std::getline(rows, line)) {
    std::string row;
    for (const auto& v : split(line, '\t'))
      row += (row.empty() ? "" : "\t") + unescape(v);
    got.push_back(row);
  }
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  ASSERT_EQ(got.size(), want.size());
  // The flow log beside them: one line per exported record, its first six columns (start,
  // end, addresses, ports) those of the record's row.
  std::vector<std::string> lines, keys;
  std::ifstream csv{dir + "/flows.csv"};
  while (std::getline(csv, line)) {
    auto f = split(line, ',');
    ASSERT_EQ(f.size(), 30u) << line;
    lines.push_back(f[0] + " " + f[1] + " " + f[2] + " " + f[3] + " " + f[4] + " " + f[5]);
  }
  for (const auto& row : want) {
    auto f = split(row, '\t');
    keys.push_back(f[0] + " " + f[1] + " " + f[5] + " " + f[6] + " " + f[7] + " " + f[8]);
  }
  std::sort(lines.begin(), lines.end());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(lines, keys);
  // The first row that differs, column by column (the whole lists are too long to print).
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i])
      continue;
    auto g = split(got[i], '\t'), w = split(want[i], '\t');
    for (std::size_t c = 0; c < std::min(g.size(), w.size()); ++c)
      EXPECT_EQ(g[c], w[c]) << fa::sinks::info(fa::sinks::clickhouse_columns()[c]).name
                            << " of row " << i << ": " << got[i];
    FAIL() << "rows differ";
  }
}

// on_full = "block": the server is stopped while records flow and started again; no row
// is lost. Rows appear twice only when an insert's answer was lost (counted as
// no_response), as the README says.
TEST(clickhouse_destination, a_server_restart_with_block_loses_no_row) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_restart");
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must(fa::sinks::create_table_statement("default", "flows"));
  // ClickHouse's graceful stop (SIGTERM) goes on serving a keep-alive connection as long
  // as inserts arrive on it, which they do: the server is killed instead, mid-insert
  // perhaps (then the answer is lost: see no_response below).
  constexpr int records = 15000;
  running fa{fa::test::test_config(clickhouse_url(s))};
  auto gen = fa::test::start_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                               "antrea-v4", "--seed", std::to_string(seed),
                                               "--rate", "1000"});
  ASSERT_TRUE(fa::test::eventually([&] { return rows_in(s) > 500; }, 60s));
  s.kill();
  ASSERT_TRUE(gen->running()) << "the stream went on after the server stopped";
  // Inserts fail while it is down, and are retried with backoff.
  EXPECT_TRUE(fa::test::eventually(
      [&] {
        return metric(fa.sup, "flow_aggregator_clickhouse_insert_failures_total",
                      {{"reason", "connect"}}) >= 2;
      },
      30s));
  EXPECT_EQ(fa.sup.destinations()[0].state, "backoff");
  ASSERT_TRUE(s.start()) << s.log();
  ASSERT_EQ(gen->wait(120s), 0);
  EXPECT_TRUE(fa::test::eventually([&] { return rows_in(s) >= records; }, 60s)) << rows_in(s);
  auto distinct = s.must("SELECT uniqExact(packetTotalCount), min(packetTotalCount), "
                         "max(packetTotalCount) FROM flows");
  EXPECT_EQ(distinct, "15000\t1\t15000\n") << "no row lost";
  auto total = rows_in(s);
  auto lost_answers = metric(fa.sup, "flow_aggregator_clickhouse_insert_failures_total",
                             {{"reason", "no_response"}});
  if (lost_answers == 0)
    EXPECT_EQ(total, records) << "no duplicate without a lost answer";
  else
    EXPECT_LE(total, records + lost_answers * 700) << "at most the batches whose answer was lost";
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total", {{"destination", "ch"}}), 0);
  EXPECT_EQ(fa.sup.destinations()[0].state, "connected");
}

// on_full = "drop" with the server down: the queue stays within queue_size, what does not
// fit is dropped and counted, and an IPFIX destination beside it gets every record (a
// drop destination holds no credits, so it never pauses the exporters).
TEST(clickhouse_destination, down_with_drop_is_bounded_counted_and_stalls_nobody) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_drop");
  constexpr int records = 20000;
  fa::test::collector col{
      dir, {"--verify", std::to_string(seed), "--expect-total", std::to_string(records)}};
  fa::test::refusing_port dead; // ClickHouse down
  running fa{fa::test::test_config(
      fa::test::tcp_destination(col.port()) +
      "\n[[destination]]\nname = \"ch\"\nurl = \"clickhouse+http://127.0.0.1:" +
      std::to_string(dead.port()) +
      "/\"\non_full = \"drop\"\nqueue_size = \"256KiB\"\ncommit_interval = \"50ms\"\n"
      "reconnect_min = \"100ms\"\nreconnect_max = \"200ms\"\n")};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                            "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), records) << "the IPFIX destination got everything";
  EXPECT_EQ(r.value("verified", 0), records);
  messages::destination_status ch;
  ASSERT_TRUE(fa::test::eventually([&] {
    for (auto& d : fa.sup.destinations())
      if (d.name == "ch")
        ch = d;
    // Every record queued or dropped, and the first insert's failure reported (the
    // writer thread may come to it after the load is over).
    return ch.dropped_records + ch.queued_records == records && ch.state == "backoff";
  })) << ch.dropped_records
      << " + " << ch.queued_records << ", " << ch.state;
  EXPECT_GT(ch.dropped_records, 0u);
  EXPECT_LE(ch.queued_bytes, 256u * 1024);
  EXPECT_EQ(ch.sent_records, 0u);
  EXPECT_EQ(ch.state, "backoff");
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total",
                   {{"destination", "ch"}, {"reason", "queue_full"}}),
            ch.dropped_records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_clickhouse_queued_rows"), ch.queued_records);
  EXPECT_GT(
      metric(fa.sup, "flow_aggregator_clickhouse_insert_failures_total", {{"reason", "connect"}}),
      0);
}

// The table lacks a column: each batch is refused with the server's error, counted and
// dropped, not retried forever; records keep flowing (and are counted) meanwhile.
TEST(clickhouse_destination, a_schema_mismatch_is_counted_and_dropped) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_mismatch");
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must(fa::sinks::create_table_statement("default", "flows"));
  s.must("ALTER TABLE flows DROP COLUMN egressNodeName");
  constexpr int records = 1500;
  running fa{fa::test::test_config(clickhouse_url(s))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                            "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  EXPECT_TRUE(fa::test::eventually(
      [&] {
        return metric(fa.sup, "flow_aggregator_records_dropped_total",
                      {{"destination", "ch"}, {"reason", "rejected"}}) == records;
      },
      60s));
  // How many inserts carry the records depends on how the reads batch them (an insert
  // takes whole enriched batches, one read can hold more than max_rows records): at least
  // one refusal, each counted, and never more refusals than records.
  auto refusals =
      metric(fa.sup, "flow_aggregator_clickhouse_insert_failures_total", {{"reason", "rejected"}});
  EXPECT_GE(refusals, 1);
  EXPECT_LE(refusals, records);
  EXPECT_EQ(rows_in(s), 0u);
  EXPECT_EQ(fa.sup.destinations()[0].dropped_records, records);
}

// The binary logs a refused batch with ClickHouse's own error text (code and message),
// naming the destination, so that an operator sees why rows do not arrive.
TEST(clickhouse_destination, a_schema_mismatch_is_logged_with_the_servers_error) {
  auto dir = fa::test::scratch_dir("clickhouse_destination_mismatch_log");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must(fa::sinks::create_table_statement("default", "flows"));
  s.must("ALTER TABLE flows DROP COLUMN egressNodeName");
  fa::test::fa_process fa{dir, dir + "/fa.toml",
                          std::string{"cluster_id = \""} + cluster +
                              "\"\n[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                              "[admin]\nlisten = \"127.0.0.1:0\"\n[runtime]\nlog_format = "
                              "\"json\"\n" +
                              clickhouse_url(s)};
  ASSERT_EQ(fa::test::run_loadgen(fa.port(), {"--records", "500", "--template", "antrea-v4"}), 0);
  std::vector<nlohmann::json> refused;
  ASSERT_TRUE(fa::test::eventually([&] {
    refused = fa::test::log_events(fa.log(), "clickhouse write rejected, batch dropped");
    return !refused.empty();
  })) << fa.log();
  EXPECT_EQ(refused[0].value("destination", ""), "ch") << refused[0].dump();
  EXPECT_EQ(refused[0].value("reason", ""), "rejected") << refused[0].dump();
  auto detail = refused[0].value("detail", "");
  EXPECT_NE(detail.find("Code: 16"), std::string::npos) << detail;
  EXPECT_NE(detail.find("No such column egressNodeName"), std::string::npos) << detail;
  EXPECT_GE(fa.metric("flow_aggregator_clickhouse_insert_failures_total", {{"reason", "rejected"}}),
            1);
}

std::string flow_log_destination(const std::string& path, const std::string& extra) {
  return "[[destination]]\nname = \"fl\"\nurl = \"flowlog:" + path +
         "\"\nreconnect_min = \"100ms\"\nreconnect_max = \"400ms\"\n" + extra;
}

/// The flow-log line of the loadgen record `index`.
std::string expected_line(std::uint64_t index, bool pretty) {
  auto def = fa::tools::make_template(fa::tools::template_kind::antrea_v4, 256);
  std::vector<std::uint8_t> rec;
  fa::tools::append_record(fa::tools::template_kind::antrea_v4, seed, odid, index, rec);
  fa::sinks::flow_plan plan{def};
  fa::sinks::flow_view view;
  std::string out;
  view.for_each(plan, {rec.data(), rec.size()},
                [&](const fa::sinks::flow_view& v) { append_flow_log_line(out, v, pretty); });
  return out;
}

std::string gunzip(const fs::path& p) {
  gzFile in = gzopen(p.c_str(), "rb");
  std::string out;
  char buf[4096];
  int n;
  while (in != nullptr && (n = gzread(in, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  if (in != nullptr)
    gzclose(in);
  return out;
}

TEST(flow_log_destination, every_record_is_one_line_and_rotated_files_are_gzipped) {
  auto dir = fa::test::scratch_dir("flow_log_destination_lines");
  auto path = dir + "/flows.csv";
  constexpr int records = 2000;
  running fa{fa::test::test_config(
      flow_log_destination(path, "max_size = \"64KiB\"\nmax_backups = 0\npretty_print = false\n"))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                            "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  ASSERT_TRUE(fa::test::eventually(
      [&] { return metric(fa.sup, "flow_aggregator_flow_log_lines_written_total") == records; },
      60s));
  // Backups are gzipped in the background: wait for the last one.
  std::vector<fs::path> backups;
  EXPECT_TRUE(fa::test::eventually([&] {
    backups.clear();
    bool plain = false;
    for (const auto& e : fs::directory_iterator{dir}) {
      auto name = e.path().filename().string();
      if (name.starts_with("flows-"))
        backups.push_back(e.path());
      plain = plain || (name.starts_with("flows-") && !name.ends_with(".csv.gz"));
    }
    return !plain;
  }));
  std::sort(backups.begin(), backups.end());
  EXPECT_GE(backups.size(), 3u);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_flow_log_rotations_total"), backups.size());
  std::string all;
  for (const auto& b : backups)
    all += gunzip(b);
  all += fa::test::read_file(path);
  std::string want;
  for (int i = 0; i < records; ++i)
    want += expected_line(static_cast<std::uint64_t>(i), false);
  EXPECT_EQ(all, want) << "every record once, in order, across the rotated files";
}

TEST(flow_log_destination, filters_keep_only_the_denied_flows) {
  auto dir = fa::test::scratch_dir("flow_log_destination_filters");
  auto path = dir + "/flows.csv";
  constexpr int records = 1000;
  running fa{fa::test::test_config(flow_log_destination(
      path, "filters = [{ingress_network_policy_rule_actions = [\"Drop\", \"Reject\"]},\n"
            "           {egress_network_policy_rule_actions = [\"Drop\", \"Reject\"]}]\n"))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", std::to_string(records), "--template",
                                            "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  ASSERT_TRUE(fa::test::eventually(
      [&] {
        return metric(fa.sup, "flow_aggregator_flow_log_lines_written_total") +
                   metric(fa.sup, "flow_aggregator_flow_log_records_filtered_total") ==
               records;
      },
      60s));
  std::string want;
  int kept = 0;
  for (int i = 0; i < records; ++i) {
    auto j = regenerated(static_cast<std::uint64_t>(i));
    auto in = j["ingressNetworkPolicyRuleAction"].get<int>();
    auto out = j["egressNetworkPolicyRuleAction"].get<int>();
    if (in == 2 || in == 3 || out == 2 || out == 3) {
      want += expected_line(static_cast<std::uint64_t>(i), true);
      ++kept;
    }
  }
  ASSERT_GT(kept, 0) << "the loadgen content has denied flows";
  ASSERT_LT(kept, records) << "and allowed ones";
  EXPECT_EQ(fa::test::read_file(path), want);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_flow_log_records_filtered_total"), records - kept);
}

/// Runs `shell` (sh -c) in a private mount namespace when root (so that a mount there
/// vanishes with the process), as is otherwise.
std::vector<std::string> in_private_mounts(const std::string& shell) {
  if (geteuid() == 0)
    return {"unshare", "-m", "--propagation", "private", "sh", "-c", shell};
  return {"sh", "-c", shell};
}

// A read-only directory is a clear start-up error of the real binary, naming the file.
TEST(flow_log_destination, a_read_only_directory_is_a_start_error) {
  auto dir = fa::test::scratch_dir("flow_log_destination_read_only");
  auto logdir = dir + "/logs";
  fs::create_directories(logdir);
  auto cfg = dir + "/fa.toml";
  std::ofstream{cfg} << "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n[admin]\nlisten = \"\"\n"
                     << flow_log_destination(logdir + "/flows.csv");
  // Root writes through permissions: a read-only mount then; otherwise mode 0555.
  std::string prepare = geteuid() == 0 ? "mount -t tmpfs -o ro,size=64k tmpfs " + logdir + " && "
                                       : "chmod 0555 " + logdir + " && ";
  std::string out;
  int rc = fa::test::run_command(in_private_mounts(prepare + "exec " +
                                                   fa::test::binary("app/flow-aggregator") +
                                                   " run -c " + cfg),
                                 out, 60s);
  EXPECT_EQ(rc, 1) << out;
  auto reason = geteuid() == 0 ? "Read-only file system" : "Permission denied";
  EXPECT_NE(out.find("destination fl: cannot open " + logdir + "/flows.csv: " + reason),
            std::string::npos)
      << out;
}

// A full disk: writes fail, are counted and retried; with on_full = "drop" the queue
// stays bounded and what does not fit is dropped and counted; the process lives on.
TEST(flow_log_destination, a_full_disk_is_counted_not_a_crash) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs a small tmpfs (root, private mount namespace)";
  auto dir = fa::test::scratch_dir("flow_log_destination_full");
  auto logdir = dir + "/logs";
  fs::create_directories(logdir);
  auto cfg = dir + "/fa.toml";
  std::ofstream{cfg} << "cluster_id = \"c\"\n[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                     << "[admin]\nlisten = \"127.0.0.1:0\"\n[runtime]\nlog_format = \"json\"\n"
                     << "shutdown_timeout = \"1s\"\n"
                     << flow_log_destination(logdir + "/flows.csv",
                                             "on_full = \"drop\"\nqueue_size = \"256KiB\"\n"
                                             "max_size = 0\n");
  auto log = dir + "/fa.err";
  fa::test::process fa{in_private_mounts("mount -t tmpfs -o size=64k tmpfs " + logdir +
                                         " && exec " + fa::test::binary("app/flow-aggregator") +
                                         " run -c " + cfg),
                       "", log};
  std::smatch port, admin;
  std::string text;
  ASSERT_TRUE(fa::test::eventually(
      [&] {
        text = fa::test::read_file(log);
        return std::regex_search(text, port, std::regex{"\"port\":\"([0-9]+)\""}) &&
               std::regex_search(text, admin, std::regex{"\"admin_port\":\"([0-9]+)\""});
      },
      30s))
      << text;
  auto admin_port = static_cast<std::uint16_t>(std::stoi(admin[1]));
  auto value = [&](const std::string& name, std::vector<std::pair<std::string, std::string>> l) {
    return fa::test::prom_value(fa::test::http_get(admin_port, "/metrics").body, name, l);
  };
  ASSERT_EQ(fa::test::run_loadgen(static_cast<std::uint16_t>(std::stoi(port[1])),
                                  {"--records", "20000", "--template", "antrea-v4"}),
            0);
  EXPECT_TRUE(fa::test::eventually(
      [&] {
        return value("flow_aggregator_flow_log_write_failures_total", {{"reason", "write"}}) > 0 &&
               value("flow_aggregator_records_dropped_total", {{"reason", "queue_full"}}) > 0;
      },
      60s))
      << fa::test::read_file(log);
  EXPECT_TRUE(fa.running()) << "no crash";
  EXPECT_NE(fa::test::read_file(log).find("No space left on device"), std::string::npos);
  fa.signal(SIGTERM);
  auto rc = fa.wait(60s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 1) << "it could not deliver everything, and says so";
}

// `flow-aggregator clickhouse-schema` prints a CREATE TABLE that this server (18.16)
// runs, in the database and table asked for.
TEST(clickhouse_schema_command, creates_the_table_on_the_server) {
  auto dir = fa::test::scratch_dir("clickhouse_schema_command");
  clickhouse_server s{dir + "/server"};
  ASSERT_TRUE(s.ok());
  s.must("CREATE DATABASE netflows");
  std::string ddl;
  ASSERT_EQ(fa::test::run_command({fa::test::binary("app/flow-aggregator"), "clickhouse-schema",
                                   "--database", "netflows", "--table", "antrea_flows"},
                                  ddl),
            0)
      << ddl;
  s.must(ddl);
  EXPECT_EQ(s.must("SELECT count() FROM system.columns WHERE database = 'netflows' AND table = "
                   "'antrea_flows'"),
            "53\n");
  std::string out;
  EXPECT_EQ(
      fa::test::run_command(
          {fa::test::binary("app/flow-aggregator"), "clickhouse-schema", "--table", "x;DROP"}, out),
      2)
      << out;
}

} // namespace
