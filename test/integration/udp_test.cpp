// IPFIX over UDP end to end (RFC 7011 10.3): ipfix-loadgen --transport udp (several
// exporters, IPv4 and IPv6) -> flow-aggregator (in-process, udp:// listeners) ->
// ipfix-collector over TCP. Every record arrives once, byte for byte, with 403/404/405
// naming its exporter, and nothing is dropped or counted as lost.

#include "test/integration/harness.hpp"
#include "test/support/clickhouse_server.hpp"

#include "ipfix/wire.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::metric;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

/// A config with the given udp:// listeners (instead of the harness's TCP one).
fa::config::config udp_config(const std::string& listen, const std::string& destinations,
                              const std::string& collector_extra = "") {
  std::string text =
      "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n[collector]\nlisten = " + listen +
      "\n" + collector_extra + "\n" + destinations + "\n[admin]\nlisten = \"\"\n";
  auto r = fa::config::load_string(text, "udp-test.toml");
  for (auto& e : r.errors)
    ADD_FAILURE() << fa::config::to_string(e);
  return r.cfg.value_or(fa::config::config{});
}

/// ipfix-loadgen over UDP to `target` ("127.0.0.1:P" or "[::1]:P"), to completion.
int run_udp_loadgen(const std::string& target, std::vector<std::string> args) {
  std::vector<std::string> argv{
      fa::test::binary("tools/ipfix-loadgen"), "--transport", "udp", "--target", target, "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  fa::test::process p{argv};
  auto rc = p.wait(90s);
  return rc ? *rc : -1;
}

/// What a clean UDP run leaves in flow-aggregator's metrics: nothing dropped, lost or
/// malformed.
void expect_no_drops(fa::app::supervisor& sup) {
  EXPECT_EQ(metric(sup, "flow_aggregator_udp_datagrams_dropped_total"), 0);
  EXPECT_EQ(metric(sup, "flow_aggregator_malformed_total"), 0);
  EXPECT_EQ(metric(sup, "flow_aggregator_records_lost_upstream_total"), 0);
  EXPECT_EQ(metric(sup, "flow_aggregator_data_sets_unknown_template_total"), 0);
  EXPECT_EQ(metric(sup, "flow_aggregator_records_dropped_total"), 0);
  for (auto& s : sup.sessions()) {
    EXPECT_EQ(s.budget_drops, 0u) << s.peer;
    EXPECT_EQ(s.lost_records, 0u) << s.peer;
  }
}

void expect_clean(const nlohmann::json& r, int total) {
  EXPECT_EQ(r.value("records", 0), total) << r.dump();
  EXPECT_EQ(r.value("verified", 0), total) << r.dump();
  EXPECT_EQ(r.value("mismatched", -1), 0) << r.dump();
  EXPECT_EQ(r.value("duplicates", -1), 0) << r.dump();
  EXPECT_EQ(r.value("missing", -1), 0) << r.dump();
  EXPECT_EQ(r.value("unknown_template_records", -1), 0) << r.dump();
  EXPECT_TRUE(r["malformed"].empty()) << r.dump();
}

/// Runs `sessions` UDP exporters to `target` through flow-aggregator on `listen` and
/// checks every record at the collector, 403/404 = `exporter`, 405 = the session's ODID.
void exporters_arrive_enriched(const std::string& name, const std::string& listen,
                               const std::string& target_host, const std::string& exporter) {
  auto dir = fa::test::scratch_dir(name);
  constexpr int sessions = 4, records = 1500;
  collector col{dir,
                {"--verify", "21", "--expect-odids", "3000:" + std::to_string(sessions),
                 "--expect-records", std::to_string(records), "--expect-exporter", exporter,
                 "--expect-total", std::to_string(sessions * records)}};
  // Idle sessions close within seconds of the end, so the test sees them go.
  running fa{udp_config(listen, tcp_destination(col.port()), "udp_idle_timeout = \"2s\"")};
  ASSERT_NE(fa.port, 0);
  // Paced: the point is that nothing is lost at a rate the machine sustains, not the
  // rate itself (the loaded, sanitized test build is slow).
  ASSERT_EQ(
      run_udp_loadgen(target_host + ":" + std::to_string(fa.port),
                      {"--sessions", std::to_string(sessions), "--records", std::to_string(records),
                       "--template", "antrea-v4", "--seed", "21", "--odid-base", "3000",
                       "--records-per-message", "8", "--rate", "30000"}),
      0);
  auto r = col.report();
  expect_clean(r, sessions * records);
  EXPECT_EQ(r.value("odids", 0), sessions);
  EXPECT_EQ(r.value("templates_distinct", 0), 1) << "identical templates share one id";
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "udp"}}),
            sessions * records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "udp"}}),
            sessions);
  // One message per datagram: every datagram the loadgen sent became one message.
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_udp_datagrams_received_total"),
            metric(fa.sup, "flow_aggregator_messages_received_total", {{"transport", "udp"}}));
  expect_no_drops(fa.sup);
  // udp_idle_timeout: the silent exporters' sessions end and their templates go.
  EXPECT_TRUE(fa::test::eventually(
      [&] {
        return metric(fa.sup, "flow_aggregator_sessions_closed_total", {{"transport", "udp"}}) ==
                   sessions &&
               metric(fa.sup, "flow_aggregator_templates_in", {{"transport", "udp"}}) == 0;
      },
      20s));
}

/// A UDP socket on 127.0.0.1 (its own source port: one exporter) sending raw datagrams.
class raw_exporter {
 public:
  raw_exporter() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~raw_exporter() { ::close(fd_); }
  raw_exporter(const raw_exporter&) = delete;
  raw_exporter& operator=(const raw_exporter&) = delete;

  void send(std::uint16_t port, const std::vector<std::uint8_t>& b) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    EXPECT_EQ(::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a),
              static_cast<ssize_t>(b.size()));
  }

 private:
  int fd_ = -1;
};

/// A message with no sets: a header only (16 octets), valid on its own.
std::vector<std::uint8_t> empty_message(std::uint32_t seq = 0) {
  std::vector<std::uint8_t> m(16, 0);
  fa::ipfix::write_u16(m.data(), 10);
  fa::ipfix::write_u16(m.data() + 2, 16);
  fa::ipfix::write_u32(m.data() + 8, seq);
  fa::ipfix::write_u32(m.data() + 12, 5);
  return m;
}

} // namespace

TEST(udp, ipv4_exporters_arrive_enriched) {
  exporters_arrive_enriched("udp_ipv4", "[\"udp://127.0.0.1:0\"]", "127.0.0.1", "127.0.0.1");
}

TEST(udp, ipv6_exporters_arrive_enriched) {
  exporters_arrive_enriched("udp_ipv6", "[\"udp://[::1]:0\"]", "[::1]", "::1");
}

// "[::]" is dual-stack: an IPv4 exporter is seen as 127.0.0.1 (403 set, 404 zeros), not
// as the v4-mapped IPv6 address the socket reports.
TEST(udp, dual_stack_listener_reports_ipv4_exporters_as_ipv4) {
  exporters_arrive_enriched("udp_dual", "[\"udp://[::]:0\"]", "127.0.0.1", "127.0.0.1");
}

// TCP and UDP listeners side by side: both exporters' records arrive.
TEST(udp, tcp_and_udp_listeners_side_by_side) {
  auto dir = fa::test::scratch_dir("udp_and_tcp");
  collector col{dir, {"--verify", "8", "--expect-total", "4000"}};
  running fa{
      udp_config("[\"udp://127.0.0.1:0\", \"tcp://127.0.0.1:0\"]", tcp_destination(col.port()))};
  auto ports = fa.sup.listen_ports();
  ASSERT_EQ(ports.size(), 2u);
  ASSERT_EQ(run_udp_loadgen("127.0.0.1:" + std::to_string(ports[0]),
                            {"--sessions", "2", "--records", "1000", "--seed", "8", "--odid-base",
                             "10", "--rate", "30000"}),
            0);
  ASSERT_EQ(fa::test::run_loadgen(ports[1], {"--sessions", "2", "--records", "1000", "--seed", "8",
                                             "--odid-base", "20"}),
            0);
  auto r = col.report();
  expect_clean(r, 4000);
  EXPECT_EQ(r.value("odids", 0), 4);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "udp"}}), 2000);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tcp"}}), 2000);
  expect_no_drops(fa.sup);
}

// DESIGN 3 over UDP: with a destination that is down and on_full = "block", enriched
// records keep their credits, the session budget is spent, and further datagrams are
// dropped: counted in the metric and in the session's status, equally.
TEST(udp, a_spent_session_budget_drops_and_counts_datagrams) {
  // A port nobody listens on (held, so no other test takes it): the destination keeps
  // reconnecting.
  fa::test::refusing_port dead;
  const std::uint16_t dead_port = dead.port();
  running fa{udp_config("[\"udp://127.0.0.1:0\"]",
                        tcp_destination(dead_port, "on_full = \"block\"\n"),
                        "max_message_size = 512\nsession_budget = \"4KiB\"\n"
                        "receive_budget = \"1MiB\"")};
  ASSERT_EQ(run_udp_loadgen("127.0.0.1:" + std::to_string(fa.port),
                            {"--sessions", "1", "--records", "2000", "--max-datagram", "512",
                             "--rate", "50000"}),
            0);
  // The listener reports drops to the session on its next sweep (at most a second).
  std::uint64_t in_status = 0;
  ASSERT_TRUE(fa::test::eventually(
      [&] {
        auto s = fa.sup.sessions();
        in_status = s.size() == 1 ? s[0].budget_drops : 0;
        return in_status > 0 && static_cast<double>(in_status) ==
                                    metric(fa.sup, "flow_aggregator_udp_datagrams_dropped_total",
                                           {{"reason", "budget"}});
      },
      20s))
      << in_status << " vs "
      << metric(fa.sup, "flow_aggregator_udp_datagrams_dropped_total", {{"reason", "budget"}});
  // Everything received was either delivered to the session or dropped and counted.
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_udp_datagrams_received_total"),
            metric(fa.sup, "flow_aggregator_messages_received_total", {{"transport", "udp"}}) +
                static_cast<double>(in_status));
  // --max-datagram 512 against max_message_size 512: no datagram was too large.
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_malformed_total"), 0);
  fa.sup.stop(200ms); // the destination is down: no point waiting to drain
}

// RFC 7011 10.3.3: the load generator refuses a datagram size its template or records
// cannot fit, with a clear message, before sending anything.
TEST(udp, loadgen_refuses_a_datagram_size_too_small) {
  auto dir = fa::test::scratch_dir("udp_loadgen_small");
  std::string out;
  auto rc = fa::test::run_command({fa::test::binary("tools/ipfix-loadgen"), "--transport", "udp",
                                   "--target", "127.0.0.1:9", "--template", "antrea-v4",
                                   "--max-datagram", "200", "--records", "1"},
                                  out, 30s);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--max-datagram 200 is too small"), std::string::npos) << out;
}

// RFC 7011 10.3.3 through the whole service: a datagram holding two messages is
// malformed (metric by reason), opens no session, and once the exporter has a session
// its malformed datagrams show in that session's status too.
TEST(udp, a_datagram_that_is_not_one_message_is_counted_by_reason) {
  running fa{udp_config("[\"udp://127.0.0.1:0\"]", tcp_destination(9))};
  raw_exporter ex;
  auto two = empty_message(0);
  auto second = empty_message(0);
  two.insert(two.end(), second.begin(), second.end());
  ex.send(fa.port, two);
  ASSERT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_malformed_total",
                  {{"reason", "datagram_length_mismatch"}}) == 1;
  }));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "udp"}}), 0);
  ex.send(fa.port, empty_message(0));
  ex.send(fa.port, two);
  ASSERT_TRUE(fa::test::eventually([&] {
    auto s = fa.sup.sessions();
    return s.size() == 1 && s[0].messages == 1 && s[0].malformed == 1;
  }));
  EXPECT_EQ(
      metric(fa.sup, "flow_aggregator_malformed_total", {{"reason", "datagram_length_mismatch"}}),
      2);
  fa.sup.stop(200ms);
}

// max_sessions holds for UDP exporters: one beyond it gets no session, and each of its
// datagrams is counted as refused. (The first has sent a template set and spoke just now,
// so it is not reclaimed.)
TEST(udp, exporters_beyond_max_sessions_are_refused_and_counted) {
  running fa{udp_config("[\"udp://127.0.0.1:0\"]", tcp_destination(9), "max_sessions = 1")};
  raw_exporter first, second;
  first.send(fa.port, fa::test::flow_message(0, 1, fa::test::flow_records(1)));
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.sessions().size() == 1; }));
  second.send(fa.port, empty_message(0));
  second.send(fa.port, empty_message(0));
  ASSERT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_udp_datagrams_dropped_total", {{"reason", "refused"}}) ==
           2;
  }));
  // admit() counts and logs a refusal at most once a second per listener.
  auto rejected =
      metric(fa.sup, "flow_aggregator_sessions_rejected_total", {{"reason", "max_sessions"}});
  EXPECT_GE(rejected, 1);
  EXPECT_LE(rejected, 2);
  EXPECT_EQ(fa.sup.sessions().size(), 1u);
  fa.sup.stop(200ms);
}
