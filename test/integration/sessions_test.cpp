// Session slots under hostile clients (issue 16, defects 7 and 8): refusals are counted
// each and logged rate-limited; silent and spoofed sessions cannot hold the slots that
// real exporters need. The real binary, on loopback, every wait bounded.

#include "ipfix/message_builder.hpp"
#include "ipfix/template_budget.hpp"
#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <fstream>

using namespace std::chrono_literals;

namespace fa::test {
namespace {

/// A config for fa_process: a TCP listener (and `extra_listen`), `collector` keys, the
/// admin API, JSON logs, and records as JSON lines into `dir`/out.jsonl.
std::string config(const std::string& dir, const std::string& collector,
                   const std::string& extra_listen = "") {
  return "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
         "[collector]\nlisten = [\"tcp://127.0.0.1:0\"" +
         extra_listen + "]\n" + collector +
         "[admin]\nlisten = \"127.0.0.1:0\"\n"
         "[runtime]\nlog_format = \"json\"\nworkers = 2\n"
         "[[destination]]\nname = \"out\"\nurl = \"jsonl:" +
         dir + "/out.jsonl\"\n";
}

asio::ip::tcp::endpoint loopback(std::uint16_t port) {
  return {asio::ip::address_v4::loopback(), port};
}

/// A TCP connection to flow-aggregator from 127.0.0.`host` (all of 127/8 is loopback,
/// so each host is an exporter address of its own).
asio::ip::tcp::socket connect_from(asio::io_context& ctx, int host, std::uint16_t port) {
  asio::ip::tcp::socket s{ctx};
  s.open(asio::ip::tcp::v4());
  s.bind({asio::ip::make_address_v4("127.0.0." + std::to_string(host)), 0});
  s.connect(loopback(port));
  return s;
}

/// One message defining templates `first` .. `first + n - 1`, each two distinct fields.
std::vector<std::uint8_t> template_flood(std::uint16_t first, int n) {
  std::vector<std::uint8_t> bytes;
  ipfix::message_builder b{bytes};
  b.begin_message(0, 0, 1);
  b.begin_set(ipfix::template_set_id);
  for (int i = 0; i < n; ++i)
    b.add_template({static_cast<std::uint16_t>(first + i),
                    0,
                    {{8, 4, 0}, {static_cast<std::uint16_t>(1000 + i), 4, 0}}});
  b.end_set();
  b.end_message();
  return bytes;
}

/// Lines of a file (0 when it does not exist yet).
std::size_t line_count(const std::string& path) {
  std::ifstream in{path};
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

// Issue 16 defect 8: every refused TCP connection wrote a warning (3,000 attempts, 3,000
// lines). Each is still counted; the log says it once and then once per interval.
TEST(session_limits, refused_connections_are_each_counted_and_logged_rate_limited) {
  auto dir = scratch_dir("refusals");
  fa_process fa{dir, dir + "/fa.toml", config(dir, "max_sessions = 1\n")};
  ASSERT_NE(fa.admin(), 0);
  asio::io_context ctx;
  asio::ip::tcp::socket held{ctx};
  held.connect(loopback(fa.port()));
  ASSERT_TRUE(eventually([&] { return fa.metric("flow_aggregator_sessions_open") == 1; }, 30s));
  constexpr int attempts = 300;
  for (int i = 0; i < attempts; ++i) {
    asio::ip::tcp::socket s{ctx};
    s.connect(loopback(fa.port()));
  }
  ASSERT_TRUE(eventually(
      [&] {
        return fa.metric("flow_aggregator_sessions_rejected_total", {{"reason", "max_sessions"}}) ==
               attempts;
      },
      60s))
      << fa.metrics_text();
  auto lines = log_events(fa.log(), "session refused");
  ASSERT_GE(lines.size(), 1u);
  EXPECT_LE(lines.size(), 5u) << "one line per 10 s, whatever the rate";
  std::uint64_t reported = 0;
  for (const auto& l : lines)
    reported += 1 + std::stoull(l.value("suppressed", "0"));
  EXPECT_LE(reported, static_cast<std::uint64_t>(attempts));
  EXPECT_EQ(lines.front().value("reason", ""), "max_sessions");
  EXPECT_EQ(fa.terminate(), 0);
}

// Issue 16 defect 6: template state had no budget (60 sessions x 4,096 templates took
// RSS from 198 to 336 MB). Exporters beyond their share, and everyone beyond the total,
// have their new templates refused and counted; what ended sessions held comes back.
TEST(session_limits, template_floods_stay_within_the_template_budget) {
  auto dir = scratch_dir("template-budget");
  fa_process fa{dir, dir + "/fa.toml",
                config(dir, "template_budget = \"160KiB\"\n"
                            "template_budget_per_exporter = \"64KiB\"\n")};
  ASSERT_NE(fa.admin(), 0);
  constexpr int per_connection = 1000;
  const auto cost = ipfix::template_footprint({256, 0, {{8, 4, 0}, {1000, 4, 0}}});
  // Three exporters' shares (64 KiB each) are more than the total: the total decides.
  const double fit = static_cast<double>((160 * 1024) / cost);
  asio::io_context ctx;
  std::vector<asio::ip::tcp::socket> flooders;
  // Two connections from 127.0.0.2 share one exporter share; .3 and .4 have their own.
  for (int host : {2, 2, 3, 4}) {
    flooders.push_back(connect_from(ctx, host, fa.port()));
    asio::write(flooders.back(), asio::buffer(template_flood(256, per_connection)));
  }
  const double defined = 4.0 * per_connection;
  auto events = [&](const std::string& e) {
    return fa.metric("flow_aggregator_template_events_total", {{"event", e}});
  };
  ASSERT_TRUE(eventually(
      [&] {
        return events("added") + events("exporter_budget") + events("process_budget") == defined;
      },
      60s))
      << fa.metrics_text();
  EXPECT_EQ(events("added"), fit);
  EXPECT_GE(events("exporter_budget"), 1.0);
  EXPECT_GE(events("process_budget"), 1.0);
  EXPECT_EQ(fa.metric("flow_aggregator_templates_in"), fit);
  EXPECT_EQ(fa.metric("flow_aggregator_template_budget_bytes"), fit * static_cast<double>(cost));
  EXPECT_LE(fa.metric("flow_aggregator_template_budget_bytes"), 160.0 * 1024);
  auto refused = log_events(fa.log(), "template refused");
  EXPECT_GE(refused.size(), 1u);
  EXPECT_LE(refused.size(), 8u) << "rate-limited per session";
  // The flood ends: every charge comes back, and a fresh exporter gets through.
  flooders.clear();
  ASSERT_TRUE(
      eventually([&] { return fa.metric("flow_aggregator_template_budget_bytes") == 0; }, 30s));
  auto fresh = connect_from(ctx, 5, fa.port());
  asio::write(fresh, asio::buffer(flow_message(0, 7, flow_records(100))));
  EXPECT_TRUE(eventually([&] { return line_count(dir + "/out.jsonl") == 100; }, 30s))
      << line_count(dir + "/out.jsonl");
  fresh.close();
  EXPECT_EQ(fa.terminate(), 0);
}

} // namespace
} // namespace fa::test
