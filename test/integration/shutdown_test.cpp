// SIGTERM under load (issue 5, Lifecycle): flow-aggregator stops accepting, drains what it
// has to its destinations within runtime.shutdown_timeout and exits 0, and not one record
// it accepted is lost.
//
// "Accepted" is exact: a record is accepted when flow-aggregator has read the complete
// IPFIX message carrying it from the exporter's socket and parsed it
// (flow_aggregator_records_received_total). Bytes of a message still incomplete when
// the socket closes were never a record flow-aggregator had (RFC 7011 10.4.1: over TCP
// the message is the unit), so they are not counted, and the exporter sees its session
// cut. The test reads the total from the process's final "stopped" line, written after
// the drain, and requires the collector to hold exactly that many records, each one
// byte-for-byte what the exporter sent, none twice.

#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

TEST(shutdown, sigterm_under_load_loses_no_accepted_record) {
  auto dir = scratch_dir("shutdown_sigterm");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  collector col{dir, {"--verify", "1"}};
  std::string toml = "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                     "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                     "[admin]\nlisten = \"127.0.0.1:0\"\n"
                     "[runtime]\nlog_format = \"json\"\nshutdown_timeout = \"60s\"\n"
                     "[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:" +
                     std::to_string(col.port()) + "\"\nflush_interval = \"5ms\"\n";
  fa_process fa{dir, dir + "/fa.toml", toml};
  ASSERT_NE(fa.port(), 0);
  // As fast as it goes, from four exporters, for longer than the test waits.
  auto gen = start_loadgen(fa.port(),
                           {"--sessions", "4", "--duration", "60s", "--rate", "0", "--template",
                            "antrea-v4", "--seed", "1", "--odid-base", "1000"},
                           dir + "/loadgen.err");
  // Mid-stream: records are flowing and still coming.
  ASSERT_TRUE(
      eventually([&] { return fa.metric("flow_aggregator_records_received_total") > 200000; }, 60s))
      << fa.log();
  ASSERT_TRUE(gen->running());
  EXPECT_EQ(fa.session_ids().size(), 4u);

  EXPECT_EQ(fa.terminate(60s), 0) << fa.log();
  auto stopped = log_events(fa.log(), "stopped");
  ASSERT_EQ(stopped.size(), 1u) << fa.log();
  auto received = std::stoull(stopped[0].value("records_received", "0"));
  auto sent = std::stoull(stopped[0].value("records_sent", "0"));
  EXPECT_GT(received, 200000u);
  EXPECT_EQ(stopped[0]["undelivered_bytes"], "0");
  EXPECT_EQ(stopped[0]["records_dropped"], "0");
  EXPECT_EQ(stopped[0]["enrich_dropped"], "0");
  EXPECT_EQ(sent, received);
  // The exporters were cut off in mid-stream, not finished.
  EXPECT_TRUE(gen->wait(30s).has_value());

  col.stop();
  auto report = col.report();
  EXPECT_EQ(report["records"].get<std::uint64_t>(), received);
  EXPECT_EQ(report["verified"].get<std::uint64_t>(), received);
  EXPECT_EQ(report["mismatched"], 0);
  EXPECT_EQ(report["duplicates"], 0);
  EXPECT_EQ(report["sequence_errors"], 0);
  EXPECT_EQ(report["odids"], 4);
  EXPECT_TRUE(report["malformed"].empty()) << report.dump();
}

} // namespace
} // namespace fa::test
