// /metrics of the real binary (issue 5, Metrics): per-exporter series that appear with a
// session and go with its last one, sessions closed by transport and reason, label cache
// and lookup metrics with a file label source, the enrichment histogram per batch, the
// process_* metrics, and bad-input warnings rate-limited per session in the log.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

using namespace std::chrono_literals;

namespace fa::test {
namespace {

using label_set = std::vector<std::pair<std::string, std::string>>;

/// One sample of Prometheus text: `name{labels} value`, the first whose labels include
/// all of `labels`; nullopt when there is none.
std::optional<double> sample(const std::string& text, const std::string& name,
                             const label_set& labels = {}) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    auto end = line.find_first_of("{ ");
    if (end == std::string::npos || line.compare(0, end, name) != 0 || end != name.size())
      continue;
    auto space = line.rfind(' ');
    std::string label_text = line[end] == '{' ? line.substr(end, space - end) : "";
    bool match = true;
    for (auto& [k, v] : labels)
      match = match && label_text.find(k + "=\"" + v + "\"") != std::string::npos;
    if (match)
      return std::stod(line.substr(space + 1));
  }
  return std::nullopt;
}

/// A Pod object of the file label source (labels_test.cpp has the shape).
std::string pod_line(const std::string& uid, const std::string& name, const std::string& ip) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"2024-05-01T10:00:00Z",)"
         R"("labels":{"app":"web"},"name":")" +
         name + R"(","namespace":"shop","resourceVersion":"1","uid":")" + uid +
         R"("},"spec":{"nodeName":"kind-worker"},"status":{"phase":"Running","podIP":")" + ip +
         R"(","podIPs":[{"ip":")" + ip + R"("}]}})" + "\n";
}

/// An IPFIX message: template 256 (when `with_template`), then `n` records from
/// 10.0.0.1 (a Pod in the file) to 10.0.0.2 (none).
std::vector<std::uint8_t> message(std::uint32_t seq, int n, bool with_template = true) {
  return flow_message(seq, 7, flow_records(n, seq), with_template);
}

struct instance {
  std::unique_ptr<process> proc;
  std::string err_file;
  std::uint16_t tcp = 0, udp = 0, admin = 0;

  std::string metrics() { return http_get(admin, "/metrics").body; }
  double value(const std::string& name, const label_set& labels = {}) {
    return sample(metrics(), name, labels).value_or(-1);
  }
  bool has(const std::string& name, const label_set& labels = {}) {
    return sample(metrics(), name, labels).has_value();
  }
};

instance start(const std::string& dir, std::uint16_t collector_port, const std::string& pods) {
  auto cfg = dir + "/fa.toml";
  std::ofstream{cfg} << "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                        "[collector]\nlisten = [\"tcp://127.0.0.1:0\", \"udp://127.0.0.1:0\"]\n"
                        "udp_idle_timeout = \"1s\"\n"
                        "[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:"
                     << collector_port
                     << "\"\nflush_interval = \"5ms\"\nreplay_window = \"0B\"\n"
                        "[labels]\nsource = \"file\"\nfile = \""
                     << pods
                     << "\"\n[enrichment]\nlabels_for_foreign_records = true\n"
                        "[admin]\nlisten = \"127.0.0.1:0\"\n";
  instance fa;
  fa.err_file = dir + "/fa.err";
  fa.proc = std::make_unique<process>(
      std::vector<std::string>{binary("app/flow-aggregator"), "run", "-c", cfg}, "", fa.err_file);
  std::smatch tcp, udp, admin;
  std::string log;
  EXPECT_TRUE(eventually(
      [&] {
        log = read_file(fa.err_file);
        return std::regex_search(log, tcp, std::regex{"transport=tcp [^\\n]* port=([0-9]+)"}) &&
               std::regex_search(log, udp, std::regex{"transport=udp [^\\n]* port=([0-9]+)"}) &&
               std::regex_search(log, admin, std::regex{"admin_port=([0-9]+)"});
      },
      20s))
      << log;
  auto port = [](const std::smatch& m) {
    return m.empty() ? std::uint16_t{0} : static_cast<std::uint16_t>(std::stoi(m[1]));
  };
  fa.tcp = port(tcp);
  fa.udp = port(udp);
  fa.admin = port(admin);
  return fa;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

TEST(metrics, exporter_series_close_reasons_labels_histogram_process_and_limited_warnings) {
  auto dir = scratch_dir("metrics");
  auto pods = dir + "/pods.jsonl";
  std::ofstream{pods} << pod_line("u-1", "web-1", "10.0.0.1");
  collector col{dir, {}};
  auto fa = start(dir, col.port(), pods);
  ASSERT_NE(fa.admin, 0);
  const label_set exporter{{"exporter", "127.0.0.1"}};

  // The label cache, from the file: Pods, IPs, ready, sync time, one good load.
  ASSERT_TRUE(eventually([&] { return fa.value("flow_aggregator_label_cache_ips") == 1; }, 20s))
      << fa.metrics();
  auto text = fa.metrics();
  EXPECT_EQ(sample(text, "flow_aggregator_label_cache_pods"), 1);
  EXPECT_EQ(sample(text, "flow_aggregator_label_cache_ready"), 1);
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  EXPECT_GT(sample(text, "flow_aggregator_label_cache_last_sync_timestamp_seconds").value_or(0),
            now.count() - 120);
  EXPECT_EQ(sample(text, "flow_aggregator_label_cache_file_loads_total", {{"result", "ok"}}), 1);
  EXPECT_TRUE(sample(text, "flow_aggregator_label_cache_watch_restarts_total"));
  EXPECT_TRUE(sample(text, "flow_aggregator_label_cache_errors_total"));
  // No session yet: no exporter series.
  EXPECT_FALSE(sample(text, "flow_aggregator_exporter_records_received_total", exporter));

  // The process itself.
  EXPECT_GT(sample(text, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GT(sample(text, "process_virtual_memory_bytes").value_or(0), 1e6);
  auto fds = sample(text, "process_open_fds").value_or(0);
  EXPECT_GE(fds, 5); // stdio, listeners, admin socket, the collector connection
  EXPECT_GE(sample(text, "process_max_fds").value_or(0), fds);
  EXPECT_GE(sample(text, "process_cpu_seconds_total").value_or(-1), 0);
  auto started = sample(text, "process_start_time_seconds").value_or(0);
  EXPECT_LE(started, now.count() + 2);
  EXPECT_GT(started, now.count() - 300);

  // A TCP exporter: one record (a lookup hit for 10.0.0.1, a miss for 10.0.0.2).
  asio::io_context io;
  asio::ip::tcp::socket sock{io};
  sock.connect({asio::ip::address_v4::loopback(), fa.tcp});
  asio::write(sock, asio::buffer(message(0, 1)));
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_exporter_records_received_total", exporter) == 1;
  })) << fa.metrics();
  std::optional<double> batches_before;
  ASSERT_TRUE(eventually([&] {
    batches_before = sample(fa.metrics(), "flow_aggregator_enrich_batch_duration_seconds_count");
    return batches_before.value_or(0) >= 1;
  }));
  text = fa.metrics();
  EXPECT_EQ(sample(text, "flow_aggregator_label_lookups_total", {{"result", "hit"}}), 1);
  EXPECT_EQ(sample(text, "flow_aggregator_label_lookups_total", {{"result", "miss"}}), 1);
  EXPECT_EQ(sample(text, "flow_aggregator_exporter_messages_received_total", exporter), 1);
  EXPECT_GT(sample(text, "flow_aggregator_exporter_received_bytes_total", exporter).value_or(0),
            16);
  EXPECT_EQ(sample(text, "flow_aggregator_exporter_records_lost_upstream_total", exporter), 0);
  EXPECT_EQ(sample(text, "flow_aggregator_sessions_open", {{"transport", "tcp"}}), 1);
  // Templates active: the session's input template and the output one it maps to.
  EXPECT_EQ(sample(text, "flow_aggregator_templates_in", {{"transport", "tcp"}}), 1);
  EXPECT_EQ(sample(text, "flow_aggregator_templates_out"), 1);

  // Four sequence gaps of 4 records each (RFC 7011 10.3): counted every time, warned about
  // once (then at most once per 10 s, with the number left out).
  std::uint32_t seq = 1;
  for (int i = 0; i < 4; ++i) {
    seq += 4;
    asio::write(sock, asio::buffer(message(seq, 2, false)));
    seq += 2;
  }
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_exporter_records_lost_upstream_total", exporter) == 16;
  })) << fa.metrics();
  ASSERT_TRUE(eventually(
      [&] { return fa.value("flow_aggregator_exporter_records_received_total", exporter) == 9; }));
  ASSERT_TRUE(eventually([&] {
    return sample(fa.metrics(), "flow_aggregator_enrich_batch_duration_seconds_count").value_or(0) >
           *batches_before;
  }));
  EXPECT_EQ(fa.value("flow_aggregator_records_lost_upstream_total", {{"transport", "tcp"}}), 16);
  EXPECT_EQ(count(read_file(fa.err_file), "sequence gap"), 1u) << read_file(fa.err_file);

  // The exporter closes: reason eof, and its series are gone.
  sock.shutdown(asio::ip::tcp::socket::shutdown_both);
  sock.close();
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_sessions_closed_total",
                    {{"transport", "tcp"}, {"reason", "eof"}}) == 1;
  })) << fa.metrics();
  ASSERT_TRUE(eventually([&] {
    return !fa.has("flow_aggregator_exporter_records_received_total", exporter);
  })) << fa.metrics();
  EXPECT_FALSE(fa.has("flow_aggregator_exporter_records_lost_upstream_total", exporter));
  // RFC 7011 8: the end of the session withdrew its templates, and the output template
  // id is free again once its batches are written and acknowledged (replay_window 0):
  // destinations do not reserve the ids they announced (issue 16 defect 2).
  EXPECT_EQ(fa.value("flow_aggregator_templates_in", {{"transport", "tcp"}}), 0);
  EXPECT_TRUE(eventually([&] { return fa.value("flow_aggregator_templates_out") == 0; }))
      << fa.metrics();

  // A UDP exporter: its series appear, and go when the idle sweep closes the session.
  asio::ip::udp::socket usock{io, asio::ip::udp::endpoint{asio::ip::address_v4::loopback(), 0}};
  usock.send_to(asio::buffer(message(0, 3)), {asio::ip::address_v4::loopback(), fa.udp});
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_exporter_records_received_total", exporter) == 3;
  })) << fa.metrics();
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_sessions_closed_total",
                    {{"transport", "udp"}, {"reason", "idle_timeout"}}) == 1;
  })) << fa.metrics();
  ASSERT_TRUE(eventually([&] {
    return !fa.has("flow_aggregator_exporter_records_received_total", exporter);
  })) << fa.metrics();

  // A stream that cannot be framed (version 9, RFC 7011 3.1): closed as malformed, and
  // warned about with its reason.
  asio::ip::tcp::socket bad{io};
  bad.connect({asio::ip::address_v4::loopback(), fa.tcp});
  auto garbage = message(0, 1);
  garbage[1] = 9;
  asio::write(bad, asio::buffer(garbage));
  ASSERT_TRUE(eventually([&] {
    return fa.value("flow_aggregator_sessions_closed_total",
                    {{"transport", "tcp"}, {"reason", "malformed"}}) == 1;
  })) << fa.metrics();
  EXPECT_EQ(fa.value("flow_aggregator_malformed_total", {{"reason", "bad_version"}}), 1);
  EXPECT_TRUE(eventually([&] {
    auto log = read_file(fa.err_file);
    return log.find("malformed input discarded") != std::string::npos &&
           log.find("reason=bad_version") != std::string::npos;
  })) << read_file(fa.err_file);

  // Names and help: every family of ours has both, with the flow_aggregator_ prefix.
  text = fa.metrics();
  std::istringstream lines{text};
  std::size_t helps = 0;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("# HELP ", 0) == 0) {
      ++helps;
      auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(name.rfind("flow_aggregator_", 0) == 0 || name.rfind("process_", 0) == 0) << name;
      EXPECT_GT(line.size(), 7 + name.size() + 1) << "no help text: " << line;
    }
  EXPECT_GT(helps, 40u);

  fa.proc->signal(SIGTERM);
  EXPECT_EQ(fa.proc->wait(30s), 0);
  col.stop();
}

} // namespace
} // namespace fa::test
