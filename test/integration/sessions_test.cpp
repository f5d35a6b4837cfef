// Session slots under hostile clients (issue 16, defects 7 and 8): refusals are counted
// each and logged rate-limited; silent and spoofed sessions cannot hold the slots that
// real exporters need. The real binary, on loopback, every wait bounded.

#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

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

} // namespace
} // namespace fa::test
