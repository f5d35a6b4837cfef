// Loopback integration tests (issue: part 1, tests): loadgen sessions -> flow-aggregator
// -> ipfix-collector, every record accounted for.

#include "ipfix/message_builder.hpp"
#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::metric;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

void expect_clean(const nlohmann::json& r) {
  EXPECT_EQ(r.value("mismatched", -1), 0) << r.dump();
  EXPECT_EQ(r.value("duplicates", -1), 0) << r.dump();
  EXPECT_EQ(r.value("missing", -1), 0) << r.dump();
  EXPECT_EQ(r.value("sequence_errors", -1), 0) << r.dump();
  EXPECT_EQ(r.value("unknown_template_records", -1), 0) << r.dump();
  EXPECT_TRUE(r["malformed"].empty()) << r.dump();
}

} // namespace

// 100 exporter sessions: every record arrives exactly once with its bytes unchanged
// (--verify compares the exporter's fields byte for byte), 403/404/405 name each
// session's real address and ODID, the 100 identical templates become one downstream
// template, and downstream sequence numbers are consistent.
TEST(pipeline, hundred_sessions_arrive_exactly_once) {
  auto dir = fa::test::scratch_dir("hundred_sessions");
  constexpr int sessions = 100, records = 300;
  collector col{dir,
                {"--verify", "11", "--expect-odids", "1000:100", "--expect-records",
                 std::to_string(records), "--expect-exporter", "127.0.0.1", "--expect-total",
                 std::to_string(sessions * records)}};
  running fa{fa::test::test_config(tcp_destination(col.port()))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", std::to_string(sessions), "--records",
                                            std::to_string(records), "--template", "antrea-v4",
                                            "--seed", "11", "--records-per-message", "7"}),
            0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), sessions * records);
  EXPECT_EQ(r.value("verified", 0), sessions * records);
  EXPECT_EQ(r.value("odids", 0), sessions);
  EXPECT_EQ(r.value("templates_distinct", 0), 1) << "identical templates share one id";
  expect_clean(r);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_received_total"), sessions * records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_sent_total"), sessions * records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total"), sessions);
  // Each session's template is withdrawn when it ends (RFC 7011 8): the gauge returns to 0.
  EXPECT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_sessions_closed_total") == sessions &&
           metric(fa.sup, "flow_aggregator_templates_in") == 0;
  })) << metric(fa.sup, "flow_aggregator_templates_in");
}

// Sessions with different templates get different downstream templates; each session's
// records still arrive complete.
TEST(pipeline, different_templates_get_different_ids) {
  auto dir = fa::test::scratch_dir("different_templates");
  collector col{dir, {"--verify", "5", "--expect-total", "6000"}};
  running fa{fa::test::test_config(tcp_destination(col.port()))};
  auto a = fa::test::start_loadgen(fa.port, {"--sessions", "3", "--records", "1000", "--template",
                                             "antrea-v4", "--seed", "5", "--odid-base", "100"});
  auto b = fa::test::start_loadgen(fa.port, {"--sessions", "3", "--records", "1000", "--template",
                                             "minimal", "--seed", "5", "--odid-base", "200"});
  ASSERT_EQ(a->wait(60s), 0);
  ASSERT_EQ(b->wait(60s), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 6000);
  EXPECT_EQ(r.value("verified", 0), 6000);
  EXPECT_EQ(r.value("templates_distinct", 0), 2);
  expect_clean(r);
}

// The collector stops (gracefully, as a restarting collector does) and comes back on the
// same port mid-stream. With on_full = "block" nothing is lost or duplicated: the
// exporter finishes its write, backs off, reconnects and re-announces its templates.
TEST(pipeline, collector_restart_loses_nothing_with_block) {
  auto dir = fa::test::scratch_dir("collector_restart");
  constexpr int total = 10 * 20000;
  auto first = std::make_unique<collector>(dir, std::vector<std::string>{"--verify", "3"});
  auto port = first->port();
  running fa{fa::test::test_config(tcp_destination(port, "on_full = \"block\"\n"))};
  auto gen = fa::test::start_loadgen(fa.port, {"--sessions", "10", "--records", "20000", "--rate",
                                               "100000", "--template", "antrea-v4", "--seed", "3"});
  ASSERT_TRUE(fa::test::eventually(
      [&] { return metric(fa.sup, "flow_aggregator_records_sent_total") > total / 10; }));
  first->stop();
  auto r1 = first->report();
  first.reset();
  collector second{dir, {"--verify", "3", "--idle-exit", "2s"}, port};
  ASSERT_EQ(gen->wait(90s), 0);
  auto r2 = second.report();
  EXPECT_GT(r1.value("records", 0), 0);
  EXPECT_GT(r2.value("records", 0), 0);
  EXPECT_EQ(r1.value("records", 0) + r2.value("records", 0), total) << r1.dump() << "\n"
                                                                    << r2.dump();
  EXPECT_EQ(r1.value("mismatched", -1) + r2.value("mismatched", -1), 0);
  EXPECT_EQ(r2.value("templates_distinct", 0), 1) << "templates re-announced after reconnect";
  EXPECT_EQ(r2.value("unknown_template_records", -1), 0);
  EXPECT_EQ(r1.value("sequence_errors", -1) + r2.value("sequence_errors", -1), 0);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total"), 0);
  EXPECT_GE(metric(fa.sup, "flow_aggregator_destination_reconnects_total"), 1);
}
