// Unfinished TCP messages (issue 16, defect 5): a message whose first octets arrived is
// charged to the budgets while it waits (it used to live outside them), can always be
// completed, and closes its session when it stays incomplete for message_timeout.

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"
#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::eventually;
using fa::test::metric;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

/// A message of `length` octets: a valid header, then a set of template id 256 that no
/// template defines (the session counts it as unknown data; its framing is what counts).
std::vector<std::uint8_t> message(std::size_t length) {
  std::vector<std::uint8_t> m(length, 0);
  fa::ipfix::write_u16(m.data(), fa::ipfix::ipfix_version);
  fa::ipfix::write_u16(m.data() + 2, static_cast<std::uint16_t>(length));
  fa::ipfix::write_u16(m.data() + 16, 256);
  fa::ipfix::write_u16(m.data() + 18, static_cast<std::uint16_t>(length - 16));
  return m;
}

asio::ip::tcp::socket connect(asio::io_context& io, std::uint16_t port) {
  asio::ip::tcp::socket s{io};
  s.connect({asio::ip::address_v4::loopback(), port});
  return s;
}

double budget_used(running& fa) {
  return metric(fa.sup, "flow_aggregator_receive_budget_used_bytes");
}

/// Opens `n` connections that each send all but the last octet of `m`.
std::vector<asio::ip::tcp::socket> hold(asio::io_context& io, std::uint16_t port, int n,
                                        const std::vector<std::uint8_t>& m) {
  std::vector<asio::ip::tcp::socket> socks;
  for (int i = 0; i < n; ++i) {
    socks.push_back(connect(io, port));
    asio::write(socks.back(), asio::buffer(m.data(), m.size() - 1));
  }
  return socks;
}

constexpr int conns = 40;
constexpr std::size_t length = 60000;

} // namespace

// 40 connections each hold all but the last octet of a 60,000-octet message: the budget
// shows the 2.4 MB they hold (it showed nothing: the octets lived outside it).
TEST(partial_messages, held_messages_are_charged_to_the_receive_budget) {
  auto dir = fa::test::scratch_dir("partial_budget");
  collector col{dir, {"--idle-exit", "60s"}};
  running fa{fa::test::test_config(tcp_destination(col.port()))};
  auto m = message(length);
  asio::io_context io;
  auto socks = hold(io, fa.port, conns, m);
  ASSERT_TRUE(eventually([&] { return budget_used(fa) >= conns * static_cast<double>(length); }))
      << budget_used(fa);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_messages_received_total"), 0);
  for (auto& s : socks)
    asio::write(s, asio::buffer(m.data() + length - 1, 1));
  ASSERT_TRUE(eventually(
      [&] { return metric(fa.sup, "flow_aggregator_messages_received_total") == conns; }));
  EXPECT_TRUE(eventually([&] { return budget_used(fa) == 0; })) << budget_used(fa);
  col.stop();
  col.report();
}

// With a 2 MiB receive budget, held messages spend it: the other connections are not
// read (they wait in TCP). Every held message can still be completed, which gives the
// budget back and lets the waiting ones in: all 40 messages arrive, nothing is stuck.
TEST(partial_messages, held_messages_spend_the_budget_and_still_complete) {
  auto dir = fa::test::scratch_dir("partial_pause");
  collector col{dir, {"--idle-exit", "60s"}};
  auto cfg = fa::test::test_config(tcp_destination(col.port()));
  cfg.collector.session_budget = 128 * 1024;
  cfg.collector.receive_budget = 2 * 1024 * 1024;
  running fa{cfg};
  auto m = message(length);
  asio::io_context io;
  auto socks = hold(io, fa.port, conns, m);
  ASSERT_TRUE(eventually([&] { return budget_used(fa) >= cfg.collector.receive_budget; }))
      << budget_used(fa);
  EXPECT_LT(budget_used(fa), conns * static_cast<double>(length)) << "the rest wait unread";
  for (auto& s : socks)
    asio::write(s, asio::buffer(m.data() + length - 1, 1));
  ASSERT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_messages_received_total") == conns;
  })) << metric(fa.sup, "flow_aggregator_messages_received_total");
  EXPECT_TRUE(eventually([&] { return budget_used(fa) == 0; })) << budget_used(fa);
  col.stop();
  col.report();
}

// A message that stays incomplete closes its session after message_timeout, counted by
// reason; a session that is merely idle between whole messages stays open.
TEST(partial_messages, an_incomplete_message_times_out) {
  auto dir = fa::test::scratch_dir("partial_timeout");
  collector col{dir, {"--idle-exit", "60s"}};
  auto cfg = fa::test::test_config(tcp_destination(col.port()));
  cfg.collector.message_timeout = 300ms;
  running fa{cfg};
  asio::io_context io;
  auto idle = connect(io, fa.port);
  auto whole = message(200);
  asio::write(idle, asio::buffer(whole));
  auto slow = connect(io, fa.port);
  asio::write(slow, asio::buffer(whole.data(), 100));
  auto timed_out = [&] {
    return metric(fa.sup, "flow_aggregator_sessions_closed_total",
                  {{"transport", "tcp"}, {"reason", "message_timeout"}});
  };
  ASSERT_TRUE(eventually([&] { return timed_out() == 1; })) << timed_out();
  // Closed by us: the exporter reads the end of the stream.
  std::uint8_t b;
  asio::error_code ec;
  slow.read_some(asio::buffer(&b, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_open", {{"transport", "tcp"}}), 1)
      << "the idle session, whose messages were whole, stays";
  EXPECT_EQ(budget_used(fa), 0) << "the dropped partial message gave its budget back";
  col.stop();
  col.report();
}
