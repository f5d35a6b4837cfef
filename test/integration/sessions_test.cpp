// Session slots under hostile clients (issue 16, defects 7 and 8): refusals are counted
// each and logged rate-limited; silent and spoofed sessions cannot hold the slots that
// real exporters need. The real binary, on loopback, every wait bounded.

#include "ipfix/message_builder.hpp"
#include "ipfix/template_budget.hpp"
#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <fstream>
#include <set>
#include <thread>

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

/// The port of `fa`'s listener of `transport` ("udp"), from its "listening" log line.
std::uint16_t listener_port(const fa_process& fa, const std::string& transport) {
  for (const auto& l : log_events(fa.log(), "listening"))
    if (l.value("transport", "") == transport)
      return static_cast<std::uint16_t>(std::stoi(l.value("port", "0")));
  return 0;
}

/// A UDP exporter from 127.0.0.`host` and a port of its own: a session of its own.
struct udp_exporter {
  udp_exporter(asio::io_context& ctx, int host, std::uint16_t to)
      : socket{ctx}
      , target{asio::ip::address_v4::loopback(), to} {
    socket.open(asio::ip::udp::v4());
    socket.bind({asio::ip::make_address_v4("127.0.0." + std::to_string(host)), 0});
  }
  void send(const std::vector<std::uint8_t>& message) {
    socket.send_to(asio::buffer(message), target);
  }
  asio::ip::udp::socket socket;
  asio::ip::udp::endpoint target;
};

double closed(fa_process& fa, const std::string& transport, const std::string& reason) {
  return fa.metric("flow_aggregator_sessions_closed_total",
                   {{"transport", transport}, {"reason", reason}});
}

double open_sessions(fa_process& fa, const std::string& transport) {
  return fa.metric("flow_aggregator_sessions_open", {{"transport", transport}});
}

double rejected(fa_process& fa, const std::string& reason) {
  return fa.metric("flow_aggregator_sessions_rejected_total", {{"reason", reason}});
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

// Issue 16 defect 7: TCP and TLS sessions shared one max_sessions pool with UDP, with
// no bound per source address. Now each transport kind and each address has its own cap.
TEST(session_limits, tcp_sessions_are_capped_per_address_and_in_all) {
  auto dir = scratch_dir("tcp-caps");
  fa_process fa{dir, dir + "/fa.toml",
                config(dir, "max_tcp_sessions = 3\nmax_sessions_per_address = 2\n")};
  ASSERT_NE(fa.admin(), 0);
  asio::io_context ctx;
  std::vector<asio::ip::tcp::socket> held;
  auto open_now = [&](double n) {
    return eventually([&] { return fa.metric("flow_aggregator_sessions_open") == n; }, 30s);
  };
  for (int host : {2, 2}) // two of 127.0.0.2: its share
    held.push_back(connect_from(ctx, host, fa.port()));
  ASSERT_TRUE(open_now(2));
  held.push_back(connect_from(ctx, 2, fa.port())); // a third: beyond its address's cap
  ASSERT_TRUE(eventually([&] { return rejected(fa, "max_sessions_per_address") == 1; }, 30s))
      << fa.metrics_text();
  held.push_back(connect_from(ctx, 3, fa.port())); // another address gets in
  ASSERT_TRUE(open_now(3));
  held.push_back(connect_from(ctx, 4, fa.port())); // beyond max_tcp_sessions
  ASSERT_TRUE(eventually([&] { return rejected(fa, "max_tcp_sessions") == 1; }, 30s))
      << fa.metrics_text();
  EXPECT_EQ(fa.metric("flow_aggregator_sessions_open"), 3);
  // A slot is free again as soon as its connection closes.
  held.front().close();
  ASSERT_TRUE(open_now(2));
  held.push_back(connect_from(ctx, 4, fa.port()));
  EXPECT_TRUE(open_now(3));
  EXPECT_EQ(rejected(fa, "max_tcp_sessions"), 1);
  EXPECT_EQ(fa.terminate(), 0);
}

// Issue 16 defect 7: a TCP connection that sent nothing, or stopped sending, held its
// slot forever. It now has first_message_timeout to complete a message and
// tcp_idle_timeout between messages; one that keeps sending stays.
TEST(session_limits, silent_tcp_sessions_time_out_and_busy_ones_stay) {
  auto dir = scratch_dir("tcp-timeouts");
  fa_process fa{dir, dir + "/fa.toml",
                config(dir, "first_message_timeout = \"500ms\"\ntcp_idle_timeout = \"1500ms\"\n")};
  ASSERT_NE(fa.admin(), 0);
  asio::io_context ctx;
  auto silent = connect_from(ctx, 2, fa.port());
  auto once = connect_from(ctx, 3, fa.port());
  auto busy = connect_from(ctx, 4, fa.port());
  asio::write(once, asio::buffer(flow_message(0, 1, flow_records(5))));
  std::uint32_t seq = 0;
  auto send_busy = [&] {
    asio::write(busy, asio::buffer(flow_message(seq, 2, flow_records(1))));
    ++seq;
  };
  send_busy();
  ASSERT_TRUE(eventually([&] { return closed(fa, "tcp", "first_message_timeout") == 1; }, 30s))
      << fa.metrics_text();
  // The busy exporter sends a message every 100 ms, well within both timeouts, until
  // the one that went quiet has timed out.
  ASSERT_TRUE(eventually(
      [&] {
        send_busy();
        std::this_thread::sleep_for(90ms);
        return closed(fa, "tcp", "idle_timeout") == 1;
      },
      30s))
      << fa.metrics_text();
  EXPECT_EQ(closed(fa, "tcp", "first_message_timeout"), 1) << "the busy one never timed out";
  EXPECT_TRUE(eventually([&] { return fa.metric("flow_aggregator_sessions_open") == 1; }, 30s));
  send_busy();
  EXPECT_TRUE(eventually([&] { return line_count(dir + "/out.jsonl") == 5 + seq; }, 30s));
  // The closed ones see the end of their stream.
  std::array<char, 16> buf{};
  asio::error_code ec;
  silent.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(fa.terminate(), 0);
}

// Issue 16 defect 7: UDP sessions opened on one datagram and lived 30 minutes. One that
// has sent no template set (a spoofed source, a scan) closes after
// udp_untemplated_idle_timeout of silence; one with templates keeps udp_idle_timeout.
TEST(session_limits, untemplated_udp_sessions_close_soon) {
  auto dir = scratch_dir("udp-untemplated");
  fa_process fa{
      dir, dir + "/fa.toml",
      config(dir, "udp_untemplated_idle_timeout = \"500ms\"\n", ", \"udp://127.0.0.1:0\"")};
  ASSERT_NE(fa.admin(), 0);
  auto port = listener_port(fa, "udp");
  ASSERT_NE(port, 0) << fa.log();
  asio::io_context ctx;
  udp_exporter templated{ctx, 2, port}, untemplated{ctx, 3, port};
  templated.send(flow_message(0, 1, flow_records(3)));
  untemplated.send(flow_message(0, 1, flow_records(3), false));
  ASSERT_TRUE(eventually([&] { return open_sessions(fa, "udp") == 2; }, 30s));
  ASSERT_TRUE(eventually([&] { return closed(fa, "udp", "idle_timeout") == 1; }, 30s))
      << fa.metrics_text();
  EXPECT_TRUE(eventually([&] { return open_sessions(fa, "udp") == 1; }, 30s));
  // Both were silent as long: the sweep that closed one kept the other, with its
  // template (data alone decodes).
  templated.send(flow_message(1, 1, flow_records(2), false));
  EXPECT_TRUE(eventually([&] { return line_count(dir + "/out.jsonl") == 5; }, 30s))
      << line_count(dir + "/out.jsonl");
  EXPECT_EQ(closed(fa, "udp", "idle_timeout"), 1);
  EXPECT_EQ(fa.terminate(), 0);
}

// Issue 16 defect 7: 10,000 spoofed datagrams locked every exporter out for 30 minutes.
// At max_udp_sessions a new exporter reclaims a session that has sent no template set;
// failing that, one silent for udp_untemplated_idle_timeout; failing that, it is refused.
TEST(session_limits, a_new_udp_exporter_reclaims_an_idle_session_at_the_cap) {
  auto dir = scratch_dir("udp-reclaim");
  fa_process fa{dir, dir + "/fa.toml",
                config(dir,
                       "max_udp_sessions = 2\nudp_untemplated_idle_timeout = \"1500ms\"\n"
                       "udp_idle_timeout = \"10m\"\n",
                       ", \"udp://127.0.0.1:0\"")};
  ASSERT_NE(fa.admin(), 0);
  auto port = listener_port(fa, "udp");
  ASSERT_NE(port, 0) << fa.log();
  asio::io_context ctx;
  udp_exporter a{ctx, 2, port}, spoofed{ctx, 3, port}, b{ctx, 4, port}, c{ctx, 5, port};
  a.send(flow_message(0, 1, flow_records(10)));
  spoofed.send(flow_message(0, 1, flow_records(1), false));
  ASSERT_TRUE(eventually([&] { return open_sessions(fa, "udp") == 2; }, 30s));
  // At the cap: b takes the untemplated session's slot, and its records arrive.
  b.send(flow_message(0, 1, flow_records(10)));
  ASSERT_TRUE(eventually([&] { return closed(fa, "udp", "reclaimed") == 1; }, 30s))
      << fa.metrics_text();
  EXPECT_TRUE(eventually([&] { return line_count(dir + "/out.jsonl") == 20; }, 30s));
  // a and b have templates and spoke just now: c is refused (counted, not logged per
  // datagram)...
  c.send(flow_message(0, 1, flow_records(10)));
  ASSERT_TRUE(eventually([&] { return rejected(fa, "max_udp_sessions") >= 1; }, 30s))
      << fa.metrics_text();
  EXPECT_EQ(closed(fa, "udp", "reclaimed"), 1);
  // ...until one of them has been silent for udp_untemplated_idle_timeout: b keeps
  // talking, so a (silent longest) is reclaimed for c.
  std::uint32_t seq = 1;
  ASSERT_TRUE(eventually(
      [&] {
        b.send(flow_message(seq++, 1, flow_records(1), false));
        c.send(flow_message(0, 1, flow_records(10)));
        std::this_thread::sleep_for(100ms);
        return closed(fa, "udp", "reclaimed") == 2;
      },
      30s))
      << fa.metrics_text();
  std::set<std::string> peers;
  EXPECT_TRUE(eventually(
      [&] {
        peers.clear();
        for (const auto& s : fa.api("/api/v1/sessions"))
          peers.insert(s.value("peer", "").substr(0, 10));
        return open_sessions(fa, "udp") == 2 && peers.size() == 2;
      },
      30s));
  EXPECT_EQ(peers, (std::set<std::string>{"127.0.0.4:", "127.0.0.5:"}));
  EXPECT_EQ(fa.terminate(), 0);
}

// Issue 16 defect 7: one source address, from ever new ports, could take every UDP
// slot. Beyond max_sessions_per_address a new port of that address reclaims one of the
// address's own idle sessions; other addresses keep theirs.
TEST(session_limits, udp_sessions_of_one_address_reclaim_their_own) {
  auto dir = scratch_dir("udp-per-address");
  fa_process fa{dir, dir + "/fa.toml",
                config(dir, "max_sessions_per_address = 2\n", ", \"udp://127.0.0.1:0\"")};
  ASSERT_NE(fa.admin(), 0);
  auto port = listener_port(fa, "udp");
  ASSERT_NE(port, 0) << fa.log();
  asio::io_context ctx;
  udp_exporter other{ctx, 3, port};
  other.send(flow_message(0, 1, flow_records(1), false)); // untemplated, of another address
  ASSERT_TRUE(eventually([&] { return open_sessions(fa, "udp") == 1; }, 30s));
  // One at a time: a session with datagrams in the batch being received is not taken.
  std::vector<std::unique_ptr<udp_exporter>> ports;
  for (int i = 0; i < 6; ++i) {
    ports.push_back(std::make_unique<udp_exporter>(ctx, 2, port));
    ports.back()->send(flow_message(0, 1, flow_records(1), false));
    ASSERT_TRUE(eventually(
        [&] {
          return fa.metric("flow_aggregator_sessions_accepted_total", {{"transport", "udp"}}) ==
                 i + 2;
        },
        30s))
        << fa.metrics_text();
  }
  ASSERT_TRUE(eventually([&] { return closed(fa, "udp", "reclaimed") == 4; }, 30s))
      << fa.metrics_text();
  EXPECT_TRUE(eventually([&] { return open_sessions(fa, "udp") == 3; }, 30s));
  bool other_open = false;
  for (const auto& s : fa.api("/api/v1/sessions"))
    other_open |= s.value("peer", "").rfind("127.0.0.3:", 0) == 0;
  EXPECT_TRUE(other_open);
  EXPECT_EQ(fa.terminate(), 0);
}

} // namespace
} // namespace fa::test
