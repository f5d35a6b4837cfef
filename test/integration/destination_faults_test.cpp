// Destination faults (issue 16, defects 1 and 10): a collector that dies mid-stream or
// resets its connections loses no record (at least once, duplicates only within the
// replay window and counted), and every outage is logged.
//
// The collector is the real ipfix-collector behind a relay (test/integration/
// tcp_relay.py) that plays the faulty collector: it is SIGKILLed while its socket holds
// data it never read, or it resets connections. The relay's own buffers stay far below
// the replay window (4 MiB by default), as the README's guarantee requires.

#include "test/integration/fa_process.hpp"
#include "test/integration/harness.hpp"
#include "test/integration/relay.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::eventually;
using fa::test::metric;
using fa::test::relay;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

/// Waits until destination "col" has written everything it was given (its queue is
/// empty and it sent at least `records` records), then stops the collector gracefully
/// (it reads until flow-aggregator closes) and returns its report.
nlohmann::json finish(running& fa, collector& col, double records) {
  EXPECT_TRUE(eventually(
      [&] {
        return metric(fa.sup, "flow_aggregator_records_sent_total") >= records &&
               metric(fa.sup, "flow_aggregator_destination_queue_bytes") == 0;
      },
      90s))
      << "sent " << metric(fa.sup, "flow_aggregator_records_sent_total");
  col.stop();
  return col.report();
}

/// None missing, nothing altered, and every duplicate is a counted replay.
void expect_at_least_once(const nlohmann::json& r, running& fa) {
  auto replayed =
      metric(fa.sup, "flow_aggregator_records_replayed_total", {{"destination", "col"}});
  EXPECT_EQ(r.value("missing", -1), 0) << r.dump();
  EXPECT_EQ(r.value("mismatched", -1), 0) << r.dump();
  EXPECT_GT(replayed, 0) << "the fault lost data the collector had not read";
  EXPECT_LE(r.value("duplicates", 0), replayed) << r.dump();
  // records_sent_total counts every write the kernel accepted, a record sent again
  // included: minus the replays, plus what is queued (to be sent again), each record once.
  auto d = fa.sup.destinations();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].replayed_records, replayed);
  EXPECT_EQ(d[0].sent_records - d[0].replayed_records + d[0].queued_records,
            metric(fa.sup, "flow_aggregator_records_received_total"));
}

} // namespace

// The collector dies mid-stream: it stops reading (its socket fills, then flow-
// aggregator's send queue), is SIGKILLed and comes back on the same port. Writes that
// had completed into those sockets were lost with them; they are sent again.
TEST(destination_faults, a_collector_killed_mid_stream_loses_nothing) {
  auto dir = fa::test::scratch_dir("collector_killed");
  constexpr int sessions = 2, records = 15000;
  collector col{dir,
                {"--verify", "31", "--expect-odids", "1000:2", "--expect-records",
                 std::to_string(records), "--drain-timeout", "20s"}};
  fa::test::dying_relay dying{dir, col.port(), 300000};
  running fa{fa::test::test_config(tcp_destination(dying.port()))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", std::to_string(sessions), "--records",
                                            std::to_string(records), "--template", "antrea-v4",
                                            "--seed", "31"}),
            0);
  ASSERT_TRUE(dying.die_and_return(fa.sup)) << metric(fa.sup, "flow_aggregator_sent_bytes_total");
  auto r = finish(fa, col, sessions * records);
  expect_at_least_once(r, fa);
}

// A collector that resets its first connections (RST, discarding what it read but did
// not process) loses nothing either.
TEST(destination_faults, a_collector_that_resets_connections_loses_nothing) {
  auto dir = fa::test::scratch_dir("collector_resets");
  constexpr int sessions = 2, records = 15000;
  collector col{dir,
                {"--verify", "32", "--expect-odids", "1000:2", "--expect-records",
                 std::to_string(records), "--drain-timeout", "20s"}};
  relay resetting{dir, col.port(), {"--reset-first", "4", "--reset-after", "150000"}};
  running fa{fa::test::test_config(tcp_destination(resetting.port()))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", std::to_string(sessions), "--records",
                                            std::to_string(records), "--template", "antrea-v4",
                                            "--seed", "32"}),
            0);
  auto r = finish(fa, col, sessions * records);
  expect_at_least_once(r, fa);
  EXPECT_GE(metric(fa.sup, "flow_aggregator_destination_reconnects_total"), 4);
}

// Every outage is logged (rate-limited): the failed attempts with their reason and
// backoff, the recovery with the outage's length, and a lost connection with what is
// sent again.
TEST(destination_faults, outages_are_logged) {
  auto dir = fa::test::scratch_dir("outage_log");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  std::uint16_t port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a{io, {asio::ip::address_v4::loopback(), 0}};
    port = a.local_endpoint().port();
  }
  fa::test::fa_process fa{dir, dir + "/fa.toml",
                          "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                          "[admin]\nlisten = \"127.0.0.1:0\"\n"
                          "[runtime]\nlog_format = \"json\"\nworkers = 2\n" +
                              tcp_destination(port)};
  // Nothing listens yet: attempts fail, each with its reason and the next delay.
  ASSERT_TRUE(eventually([&] {
    return !fa::test::log_events(fa.log(), "destination connect failed").empty();
  })) << fa.log();
  auto failed = fa::test::log_events(fa.log(), "destination connect failed").front();
  EXPECT_EQ(failed.value("destination", ""), "col");
  EXPECT_NE(failed.value("reason", "").find("refused"), std::string::npos) << failed.dump();
  EXPECT_EQ(failed.value("retry_in_ms", ""), "50") << failed.dump();
  EXPECT_EQ(failed.value("attempt", ""), "1") << failed.dump();
  // Rate-limited: a refusal every 50-200 ms, at most one line per 10 s.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(fa::test::log_events(fa.log(), "destination connect failed").size(), 1u);

  // The collector comes: the recovery says how long the outage lasted.
  collector col{dir, {"--idle-exit", "60s"}, port};
  ASSERT_TRUE(eventually([&] {
    return !fa::test::log_events(fa.log(), "destination connected").empty();
  })) << fa.log();
  auto up = fa::test::log_events(fa.log(), "destination connected").front();
  EXPECT_EQ(up.value("destination", ""), "col");
  EXPECT_GE(std::stoll(up.value("outage_ms", "0")), 1000) << up.dump();
  EXPECT_GE(std::stoll(up.value("failed_attempts", "0")), 5) << up.dump();

  // The collector goes away: the lost connection is logged with its reason.
  col.stop();
  col.report();
  ASSERT_TRUE(eventually([&] {
    return !fa::test::log_events(fa.log(), "destination connection lost").empty();
  })) << fa.log();
  auto lost = fa::test::log_events(fa.log(), "destination connection lost").front();
  EXPECT_EQ(lost.value("destination", ""), "col");
  EXPECT_EQ(lost.value("reason", ""), "peer closed") << lost.dump();
  EXPECT_EQ(lost.value("resending_records", ""), "0") << lost.dump();
  EXPECT_EQ(fa.terminate(), 0);
}
