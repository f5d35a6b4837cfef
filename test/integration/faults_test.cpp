// Fault tests (issue: part 1, tests): a misbehaving exporter breaks only its own session;
// a dead destination with on_full = "drop" drops and counts exactly.

#include "ipfix/message_builder.hpp"
#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::metric;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

/// sourceIPv4Address, destinationIPv4Address, octetDeltaCount: 16-octet records.
fa::ipfix::template_def small_template(std::uint16_t id) {
  return {id, 0, {{8, 4, 0}, {12, 4, 0}, {1, 8, 0}}};
}

void add_records(fa::ipfix::message_builder& b, std::uint16_t tid, int n, std::uint64_t base) {
  b.begin_set(tid);
  for (int i = 0; i < n; ++i) {
    b.put_u32(0x0a000001);
    b.put_u32(0x0a000002);
    b.put_u64(base + static_cast<std::uint64_t>(i));
  }
  b.end_set();
}

std::uint16_t unused_port() {
  asio::io_context ctx;
  asio::ip::tcp::acceptor a{ctx, {asio::ip::address_v4::loopback(), 0}};
  return a.local_endpoint().port();
}

} // namespace

// A malformed message (a set running past its message) is discarded and counted; the
// session's messages before and after it are forwarded, and other sessions are untouched.
TEST(faults, malformed_message_discards_only_that_message) {
  auto dir = fa::test::scratch_dir("malformed");
  collector col{dir, {"--expect-total", "1004"}};
  running fa{fa::test::test_config(tcp_destination(col.port()))};
  std::vector<std::uint8_t> bytes;
  fa::ipfix::message_builder b{bytes};
  b.begin_message(0, 0, 7);
  b.begin_set(fa::ipfix::template_set_id);
  b.add_template(small_template(256));
  b.end_set();
  add_records(b, 256, 1, 0);
  b.end_message();
  auto bad_at = bytes.size();
  b.begin_message(0, 1, 7);
  add_records(b, 256, 5, 100);
  b.end_message();
  // Corrupt the data set's length so it runs past the message (RFC 7011 9.1).
  fa::ipfix::write_u16(bytes.data() + bad_at + 16 + 2, 200);
  b.begin_message(0, 6, 7);
  add_records(b, 256, 3, 200);
  b.end_message();
  fa::test::send_raw(fa.port, bytes);
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", "1000", "--seed", "2"}), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 1004) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_malformed_total", {{"reason", "set_overruns_message"}}),
            1);
}

// An exporter that disconnects in the middle of a message loses only that message.
TEST(faults, disconnect_mid_message_affects_only_that_session) {
  auto dir = fa::test::scratch_dir("mid_message");
  collector col{dir, {"--verify", "4", "--expect-total", "2002"}};
  running fa{fa::test::test_config(tcp_destination(col.port()))};
  std::vector<std::uint8_t> bytes;
  fa::ipfix::message_builder b{bytes};
  b.begin_message(0, 0, 9);
  b.begin_set(fa::ipfix::template_set_id);
  b.add_template(small_template(300));
  b.end_set();
  add_records(b, 300, 2, 0);
  b.end_message();
  auto whole = bytes.size();
  b.begin_message(0, 2, 9);
  add_records(b, 300, 10, 50);
  b.end_message();
  bytes.resize(whole + (bytes.size() - whole) / 2);
  auto gen =
      fa::test::start_loadgen(fa.port, {"--sessions", "2", "--records", "1000", "--seed", "4"});
  fa::test::send_raw(fa.port, bytes);
  ASSERT_EQ(gen->wait(60s), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 2002) << r.dump();
  EXPECT_EQ(r.value("verified", 0), 2000) << "the loadgen sessions are complete";
  EXPECT_TRUE(fa::test::eventually(
      [&] { return metric(fa.sup, "flow_aggregator_sessions_closed_total") == 3; }));
}

// A template flood past max_templates_per_session is refused and counted; the session's
// first templates keep working, and other sessions are unaffected.
TEST(faults, template_flood_is_bounded_per_session) {
  auto dir = fa::test::scratch_dir("template_flood");
  collector col{dir, {"--verify", "6", "--expect-total", "1003"}};
  running fa{fa::test::test_config(tcp_destination(col.port()), "")};
  std::vector<std::uint8_t> bytes;
  fa::ipfix::message_builder b{bytes};
  for (std::uint16_t first = 256; first < 256 + 5000; first += 1000) {
    b.begin_message(0, 0, 3);
    b.begin_set(fa::ipfix::template_set_id);
    for (std::uint16_t id = first; id < first + 1000; ++id) {
      auto t = small_template(id);
      t.fields.push_back({static_cast<std::uint16_t>(id % 200 + 1), 1, 0});
      b.add_template(t);
    }
    b.end_set();
    b.end_message();
  }
  b.begin_message(0, 0, 3);
  b.begin_set(256);
  for (int i = 0; i < 3; ++i) {
    b.put_u32(1);
    b.put_u32(2);
    b.put_u64(3);
    b.put_u8(4);
  }
  b.end_set();
  b.end_message();
  fa::test::send_raw(fa.port, bytes);
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", "1000", "--seed", "6"}), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 1003) << r.dump();
  EXPECT_EQ(r.value("verified", 0), 1000);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_template_events_total", {{"event", "limit_reached"}}),
            5000 - 4096);
}

// A destination that is down, with on_full = "drop": records beyond the queue are dropped
// and counted; what was accepted but not sent is still queued. Nothing is unaccounted.
TEST(faults, dead_destination_with_drop_counts_every_record) {
  auto port = unused_port();
  running fa{fa::test::test_config(
      tcp_destination(port, "on_full = \"drop\"\nqueue_size = \"256KiB\"\n"))};
  constexpr int total = 4 * 3000;
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", "4", "--records", "3000", "--template",
                                            "antrea-v4", "--seed", "8"}),
            0);
  ASSERT_TRUE(fa::test::eventually([&] {
    std::uint64_t out = 0;
    for (auto& e : fa.sup.enrichers())
      out += e.records_out;
    return out == total;
  }));
  auto dests = fa.sup.destinations();
  ASSERT_EQ(dests.size(), 1u);
  auto& d = dests[0];
  EXPECT_GT(d.dropped_records, 0u);
  EXPECT_EQ(d.sent_records, 0u);
  EXPECT_LE(d.queued_bytes, 256u * 1024);
  EXPECT_EQ(d.dropped_records + d.queued_records, static_cast<std::uint64_t>(total));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total",
                   {{"destination", "col"}, {"reason", "queue_full"}}),
            static_cast<double>(d.dropped_records));
}

// A dead destination with on_full = "drop" whose queue is larger than the receive budget
// (as with the defaults, 64 MiB against 32 MiB): it must drop once its queue is full,
// not hold the sessions' budget and stall every exporter and the live destination.
TEST(faults, dead_drop_destination_does_not_stall_the_live_one) {
  auto dir = fa::test::scratch_dir("dead_drop_budget");
  constexpr int total = 4 * 10000;
  collector col{dir, {"--verify", "12", "--expect-total", std::to_string(total)}};
  auto cfg = fa::test::test_config(
      tcp_destination(col.port()) +
      "\n[[destination]]\nname = \"dead\"\nurl = "
      "\"ipfix+tcp://127.0.0.1:" +
      std::to_string(unused_port()) +
      "\"\non_full = \"drop\"\nqueue_size = \"4MiB\"\nreconnect_min = \"50ms\"\n");
  cfg.collector.session_budget = 256 * 1024;
  cfg.collector.receive_budget = 1024 * 1024;
  running fa{cfg};
  // About 11 MiB of records: more than the dead queue and the receive budget together.
  auto gen = fa::test::start_loadgen(fa.port, {"--sessions", "4", "--records", "10000",
                                               "--template", "antrea-v4", "--seed", "12"});
  ASSERT_EQ(gen->wait(60s), 0) << "the exporters were stalled";
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), total) << r.dump();
  EXPECT_EQ(r.value("verified", 0), total);
  auto dests = fa.sup.destinations();
  ASSERT_EQ(dests.size(), 2u);
  auto& dead = dests[1];
  EXPECT_GT(dead.dropped_records, 0u);
  EXPECT_LE(dead.queued_bytes, 4u << 20);
  EXPECT_EQ(dead.dropped_records + dead.queued_records, static_cast<std::uint64_t>(total));
}

// Sessions beyond max_sessions are refused and counted; the admitted ones work.
TEST(faults, sessions_beyond_the_limit_are_refused_and_counted) {
  auto dir = fa::test::scratch_dir("max_sessions");
  collector col{dir, {"--expect-total", "200"}};
  auto cfg = fa::test::test_config(tcp_destination(col.port()));
  cfg.collector.max_sessions = 2;
  running limited{cfg};
  auto gen = fa::test::start_loadgen(
      limited.port, {"--sessions", "2", "--records", "100", "--rate", "200", "--seed", "1"});
  ASSERT_TRUE(fa::test::eventually([&] { return limited.sup.open_sessions() == 2; }));
  std::vector<std::uint8_t> hello(16, 0);
  fa::test::send_raw(limited.port, hello); // refused: closed without being read
  EXPECT_TRUE(fa::test::eventually([&] {
    return metric(limited.sup, "flow_aggregator_sessions_rejected_total",
                  {{"reason", "max_sessions"}}) == 1;
  }));
  ASSERT_EQ(gen->wait(60s), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 200);
  EXPECT_EQ(metric(limited.sup, "flow_aggregator_sessions_accepted_total"), 2);
}

// A message longer than collector.max_message_size closes that session (its stream can
// no longer be framed safely) and is counted as malformed; other sessions go on.
TEST(faults, message_over_the_size_limit_closes_only_that_session) {
  auto dir = fa::test::scratch_dir("message_size");
  collector col{dir, {"--expect-total", "500"}};
  auto cfg = fa::test::test_config(tcp_destination(col.port()));
  cfg.collector.max_message_size = 1024;
  running fa{cfg};
  std::vector<std::uint8_t> bytes;
  fa::ipfix::message_builder b{bytes};
  b.begin_message(0, 0, 5);
  b.begin_set(fa::ipfix::template_set_id);
  b.add_template(small_template(256));
  b.end_set();
  add_records(b, 256, 100, 0); // 16 + 4 + 20 + 4 + 1600 octets > 1024
  b.end_message();
  fa::test::send_raw(fa.port, bytes);
  ASSERT_EQ(fa::test::run_loadgen(
                fa.port, {"--records", "500", "--records-per-message", "2", "--seed", "1"}),
            0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), 500);
  EXPECT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_malformed_total", {{"reason", "message_too_large"}}) ==
           1;
  }));
}
