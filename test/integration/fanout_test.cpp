// Several destinations (issue 3): fanout "hash" spreads exporters by rendezvous hashing
// and keeps each exporter on one destination; fanout "all" with on_full = "drop" keeps
// the live destination complete while a dead one drops and counts exactly.

#include "actors/enricher.hpp"
#include "ipfix/message_builder.hpp"
#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <set>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::metric;
using fa::test::running;

namespace {

/// ::ffff:a.b.c.d, the form the listener gives IPv4 exporters (session_info::peer_v6).
std::array<std::uint8_t, 16> mapped_v4(std::uint32_t v4) {
  std::array<std::uint8_t, 16> a{};
  a[10] = 0xff;
  a[11] = 0xff;
  a[12] = static_cast<std::uint8_t>(v4 >> 24);
  a[13] = static_cast<std::uint8_t>(v4 >> 16);
  a[14] = static_cast<std::uint8_t>(v4 >> 8);
  a[15] = static_cast<std::uint8_t>(v4);
  return a;
}

std::vector<std::uint64_t> seeds(const std::vector<std::string>& names) {
  std::vector<std::uint64_t> out;
  for (auto& n : names)
    out.push_back(fa::actors::destination_seed(n));
  return out;
}

/// The destination name rendezvous hashing picks for the exporter at `v4`.
std::string pick(const std::vector<std::string>& names, std::uint32_t v4) {
  return names[fa::actors::rendezvous_pick(seeds(names), fa::actors::exporter_key(mapped_v4(v4)))];
}

const std::vector<std::string> four = {"east", "west", "north", "south"};

} // namespace

// -- rendezvous hashing ----------------------------------------------------------------

TEST(fanout_hash, the_choice_is_deterministic_and_independent_of_destination_order) {
  auto reversed = four;
  std::reverse(reversed.begin(), reversed.end());
  for (std::uint32_t i = 0; i < 2000; ++i) {
    auto v4 = 0x0a000000u + i * 7919u;
    auto a = pick(four, v4);
    EXPECT_EQ(a, pick(four, v4));
    EXPECT_EQ(a, pick(reversed, v4)) << "exporter " << i;
  }
  // Different exporters do not all land on one destination.
  std::set<std::string> used;
  for (std::uint32_t i = 0; i < 16; ++i)
    used.insert(pick(four, 0x0a000001u + i));
  EXPECT_GT(used.size(), 1u);
}

TEST(fanout_hash, many_exporters_are_balanced_across_destinations) {
  constexpr std::uint32_t exporters = 20000;
  std::map<std::string, std::uint32_t> count;
  for (std::uint32_t i = 0; i < exporters; ++i)
    ++count[pick(four, 0x0a000000u + i)]; // 10.0.0.0/17: consecutive Node addresses
  ASSERT_EQ(count.size(), 4u);
  for (auto& [name, n] : count) {
    // Expected 5000 each; the binomial standard deviation is about 61.
    EXPECT_GT(n, 4700u) << name;
    EXPECT_LT(n, 5300u) << name;
  }
}

TEST(fanout_hash, adding_a_fifth_destination_moves_about_a_fifth_of_the_exporters) {
  constexpr std::uint32_t exporters = 20000;
  auto five = four;
  five.push_back("center");
  std::uint32_t moved = 0, moved_elsewhere = 0;
  for (std::uint32_t i = 0; i < exporters; ++i) {
    auto v4 = 0xc0a80000u + i * 3u;
    auto before = pick(four, v4), after = pick(five, v4);
    if (before != after) {
      ++moved;
      if (after != "center")
        ++moved_elsewhere;
    }
  }
  // 1/5 = 4000 expected; every exporter that moves goes to the new destination.
  EXPECT_GT(moved, 3700u);
  EXPECT_LT(moved, 4300u);
  EXPECT_EQ(moved_elsewhere, 0u);
}

// -- the pipeline ----------------------------------------------------------------------

namespace {

/// A minimal IPFIX exporter bound to a chosen loopback address (127.0.0.0/8 all reach
/// lo), so one test can play many exporters.
class exporter {
 public:
  explicit exporter(std::uint32_t v4)
      : v4_(v4) {}

  /// One TCP transport session: template, then `records` records in messages of 50.
  void send_session(std::uint16_t port, std::uint32_t records, std::uint64_t first) {
    std::vector<std::uint8_t> bytes;
    fa::ipfix::message_builder b{bytes};
    fa::ipfix::template_def t{256, 0, {{8, 4, 0}, {12, 4, 0}, {1, 8, 0}}};
    std::uint32_t seq = 0;
    b.begin_message(0, seq, odid());
    b.begin_set(fa::ipfix::template_set_id);
    b.add_template(t);
    b.end_set();
    b.end_message();
    for (std::uint32_t done = 0; done < records;) {
      auto n = std::min<std::uint32_t>(50, records - done);
      b.begin_message(0, seq, odid());
      b.begin_set(256);
      for (std::uint32_t i = 0; i < n; ++i) {
        b.put_u32(v4_);
        b.put_u32(0x0a0a0a0a);
        b.put_u64(first + done + i);
      }
      b.end_set();
      b.end_message();
      done += n;
      seq += n;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(v4_);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)), 0);
    std::size_t off = 0;
    while (off < bytes.size()) {
      auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    timeval tv{10, 0}; // bounded: wait for the service to close its side
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[64];
    while (::recv(fd, buf, sizeof(buf), 0) > 0) {
    }
    ::close(fd);
  }

  /// One UDP transport session (its own source port): one datagram, template and
  /// `records` records (RFC 7011 10.3.3: one message per datagram).
  void send_datagram(std::uint16_t port, std::uint32_t records, std::uint64_t first) {
    std::vector<std::uint8_t> bytes;
    fa::ipfix::message_builder b{bytes};
    b.begin_message(0, 0, odid());
    b.begin_set(fa::ipfix::template_set_id);
    b.add_template({256, 0, {{8, 4, 0}, {12, 4, 0}, {1, 8, 0}}});
    b.end_set();
    b.begin_set(256);
    for (std::uint32_t i = 0; i < records; ++i) {
      b.put_u32(v4_);
      b.put_u32(0x0a0a0a0a);
      b.put_u64(first + i);
    }
    b.end_set();
    b.end_message();
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(v4_);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto n =
        ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    ::close(fd);
    ASSERT_EQ(n, static_cast<ssize_t>(bytes.size()));
  }

  std::uint32_t odid() const { return v4_ & 0xff; }
  std::uint32_t address() const { return v4_; }

 private:
  std::uint32_t v4_;
};

std::string destination(const std::string& name, std::uint16_t port, const std::string& extra,
                        const std::string& scheme = "ipfix+tcp") {
  return "[[destination]]\nname = \"" + name + "\"\nurl = \"" + scheme +
         "://127.0.0.1:" + std::to_string(port) +
         "\"\nflush_interval = \"5ms\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n" +
         extra + "\n";
}

fa::messages::destination_status status_of(running& fa, const std::string& name) {
  for (auto& d : fa.sup.destinations())
    if (d.name == name)
      return d;
  ADD_FAILURE() << "no destination " << name;
  return {};
}

std::uint64_t records_out(running& fa) {
  std::uint64_t n = 0;
  for (auto& e : fa.sup.enrichers())
    n += e.records_out;
  return n;
}

} // namespace

// Twelve exporters, each over two TCP sessions (a reconnect) and a UDP session, with
// fanout "hash" over four destinations: every record of an exporter, whatever the
// transport session, reaches exactly the destination the rendezvous hash names.
TEST(fanout_hash, each_exporter_sticks_to_its_rendezvous_destination) {
  auto dir = fa::test::scratch_dir("fanout_hash");
  std::vector<std::unique_ptr<collector>> cols;
  std::string dests;
  for (auto& name : four) {
    cols.push_back(std::make_unique<collector>(dir, std::vector<std::string>{"--print"}));
    dests += destination(name, cols.back()->port(), "");
  }
  auto cfg = fa::test::test_config(dests, "[fanout]\nmode = \"hash\"\n");
  cfg.collector.listen.push_back({fa::config::transport_kind::udp, "127.0.0.1", 0});
  running fa{cfg};
  ASSERT_NE(fa.port, 0);
  auto ports = fa.sup.listen_ports();
  ASSERT_EQ(ports.size(), 2u);
  constexpr std::uint32_t per_session = 120, per_datagram = 60;
  std::vector<exporter> exporters;
  for (std::uint32_t k = 0; k < 12; ++k)
    exporters.emplace_back(0x7f000000u + 10 + k); // 127.0.0.10 ..
  for (int round = 0; round < 2; ++round)
    for (auto& e : exporters)
      ASSERT_NO_FATAL_FAILURE(e.send_session(fa.port, per_session, round * per_session));
  for (auto& e : exporters)
    ASSERT_NO_FATAL_FAILURE(e.send_datagram(ports[1], per_datagram, 2 * per_session));
  const std::uint64_t total = exporters.size() * (2 * per_session + per_datagram);
  ASSERT_TRUE(fa::test::eventually([&] {
    std::uint64_t sent = 0;
    for (auto& d : fa.sup.destinations())
      sent += d.sent_records;
    return sent == total;
  })) << "not every record was sent";

  // Where each exporter's records went, by originalExporterIPv4Address (403).
  std::map<std::string, std::map<std::string, std::uint64_t>> where; // exporter -> dest -> n
  std::set<std::string> used;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    cols[i]->stop();
    auto r = cols[i]->report();
    EXPECT_TRUE(r.value("malformed", nlohmann::json::object()).empty()) << r.dump();
    EXPECT_EQ(r.value("sequence_errors", -1), 0) << four[i];
    std::ifstream in{cols[i]->out_file()};
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      where[j.at("originalExporterIPv4Address").get<std::string>()][four[i]] += 1;
      used.insert(four[i]);
    }
  }
  ASSERT_EQ(where.size(), exporters.size());
  for (auto& e : exporters) {
    in_addr a{htonl(e.address())};
    std::string text = ::inet_ntoa(a);
    auto& got = where[text];
    ASSERT_EQ(got.size(), 1u) << text << " went to more than one destination";
    EXPECT_EQ(got.begin()->first, pick(four, e.address())) << text;
    EXPECT_EQ(got.begin()->second, 2 * per_session + per_datagram) << text;
  }
  EXPECT_GE(used.size(), 2u) << "twelve exporters all hashed to one destination";
}

// fanout "all", on_full = "drop", two destinations; collector "b" goes away (exits
// abruptly after the first phase), the exporters keep sending, "b" comes back on the
// same port. "a" receives everything; "b" receives again, with the templates announced
// again; and for "b" received + dropped == sent exactly, every drop under its reason.
TEST(fanout_all, a_dead_destination_with_drop_keeps_the_others_whole_and_counts_exactly) {
  auto dir = fa::test::scratch_dir("fanout_fault");
  collector a{dir, {"--verify", "11"}};
  auto b1 = std::make_unique<collector>(
      dir, std::vector<std::string>{"--verify", "11", "--expect-total", "1000"});
  const auto b_port = b1->port();
  running fa{fa::test::test_config(
      destination("a", a.port(), "on_full = \"drop\"") +
      destination("b", b_port, "on_full = \"drop\"\nqueue_size = \"512KiB\""))};
  auto loadgen = [&](const char* sessions, const char* records, const char* odid_base) {
    return fa::test::run_loadgen(fa.port,
                                 {"--sessions", sessions, "--records", records, "--seed", "11",
                                  "--odid-base", odid_base, "--template", "antrea-v4"});
  };
  // 1. Both up.
  ASSERT_EQ(loadgen("1", "1000", "1000"), 0);
  ASSERT_TRUE(fa::test::eventually([&] { return status_of(fa, "b").sent_records == 1000; }))
      << "dropped " << status_of(fa, "b").dropped_records;
  auto r1 = b1->report(30s); // exits by itself once it has the 1000 records
  EXPECT_EQ(r1.value("records", 0), 1000) << r1.dump();
  ASSERT_TRUE(fa::test::eventually([&] { return status_of(fa, "b").state != "connected"; }))
      << "the exporter did not notice that collector b went away";

  // 2. b is down: its queue (512 KiB) fills, the rest is dropped and counted.
  ASSERT_EQ(loadgen("4", "2000", "2000"), 0);
  ASSERT_TRUE(fa::test::eventually([&] { return records_out(fa) == 9000; }));
  EXPECT_GT(status_of(fa, "b").dropped_records, 0u);

  // 3. b is back on the same port: the queue goes out, templates first.
  collector b2{dir, {"--verify", "11"}, b_port};
  ASSERT_TRUE(fa::test::eventually([&] {
    auto b = status_of(fa, "b");
    return b.connections == 2 && b.queued_records == 0;
  })) << "the exporter did not reconnect to collector b";
  ASSERT_EQ(loadgen("1", "1000", "3000"), 0);
  constexpr std::uint64_t total = 10000;
  ASSERT_TRUE(fa::test::eventually([&] {
    auto sa = status_of(fa, "a"), sb = status_of(fa, "b");
    return sa.sent_records == total && sb.queued_records == 0 &&
           sb.sent_records + sb.dropped_records == total;
  }));

  a.stop();
  b2.stop();
  auto ra = a.report();
  auto r2 = b2.report();
  auto sb = status_of(fa, "b");
  // a: everything, once, intact.
  EXPECT_EQ(ra.value("records", 0u), total) << ra.dump();
  EXPECT_EQ(ra.value("verified", 0u), total);
  EXPECT_EQ(ra.value("missing", 1u), 0u);
  EXPECT_EQ(ra.value("duplicates", 1u), 0u);
  EXPECT_EQ(status_of(fa, "a").dropped_records, 0u);
  // b after the restart: decodable (templates announced again), intact, no duplicates.
  EXPECT_EQ(r2.value("unknown_template_records", 1u), 0u) << r2.dump();
  EXPECT_TRUE(r2.value("malformed", nlohmann::json::object()).empty()) << r2.dump();
  EXPECT_EQ(r2.value("mismatched", 1u), 0u);
  EXPECT_EQ(r2.value("duplicates", 1u), 0u);
  EXPECT_EQ(r2.value("sequence_errors", 1u), 0u);
  EXPECT_GT(r2.value("records", 0u), 1000u);
  // b: received + dropped == sent, and what was written is what arrived.
  const std::uint64_t received = r1.value("records", 0u) + r2.value("records", 0u);
  EXPECT_EQ(received + sb.dropped_records, total);
  EXPECT_EQ(sb.sent_records, received);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total",
                   {{"destination", "b"}, {"reason", "queue_full"}}),
            static_cast<double>(sb.dropped_records));
  for (auto reason : {"too_large", "shutdown"})
    EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total",
                     {{"destination", "b"}, {"reason", reason}}),
              0)
        << reason;
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total", {{"destination", "a"}}), 0);
}

// The same over UDP (RFC 7011 10.3). UDP cannot know what arrived: the write that draws
// the dead collector's ICMP port unreachable is counted as sent and lost, and the next
// write on that socket fails and is sent again on a new one. So for "b" every record is
// still sent or dropped (nothing unaccounted inside flow-aggregator), what arrived is at
// most what was sent, and after the restart "b" decodes everything: the new socket
// announces the templates again.
TEST(fanout_all, a_dead_udp_destination_comes_back_with_its_templates) {
  auto dir = fa::test::scratch_dir("fanout_fault_udp");
  collector a{dir, {"--udp", "--verify", "12", "--max-datagram", "1400"}};
  auto b1 = std::make_unique<collector>(
      dir, std::vector<std::string>{"--udp", "--verify", "12", "--expect-total", "1000"});
  const auto b_port = b1->port();
  running fa{fa::test::test_config(
      destination("a", a.port(), "on_full = \"drop\"", "ipfix+udp") +
      destination("b", b_port, "on_full = \"drop\"\nqueue_size = \"512KiB\"", "ipfix+udp"))};
  // Paced: a UDP receiver drops what its socket buffer cannot hold.
  auto loadgen = [&](const char* records, const char* odid_base) {
    return fa::test::run_loadgen(fa.port,
                                 {"--records", records, "--seed", "12", "--odid-base", odid_base,
                                  "--template", "antrea-v4", "--rate", "20000"});
  };
  ASSERT_EQ(loadgen("1000", "1000"), 0);
  auto r1 = b1->report(30s);
  ASSERT_EQ(r1.value("records", 0), 1000) << r1.dump();
  const auto before = status_of(fa, "b").reconnects;

  // b is down: the first write after it died is lost, the next one fails.
  ASSERT_EQ(loadgen("3000", "2000"), 0);
  ASSERT_TRUE(fa::test::eventually([&] { return records_out(fa) == 4000; }));
  EXPECT_TRUE(fa::test::eventually([&] { return status_of(fa, "b").reconnects > before; }))
      << "ECONNREFUSED was not noticed";

  collector b2{dir, {"--udp", "--verify", "12"}, b_port};
  ASSERT_EQ(loadgen("1000", "3000"), 0);
  constexpr std::uint64_t total = 5000;
  ASSERT_TRUE(fa::test::eventually([&] {
    auto sa = status_of(fa, "a"), sb = status_of(fa, "b");
    return sa.sent_records == total && sb.queued_records == 0 &&
           sb.sent_records + sb.dropped_records == total;
  }));
  a.stop();
  b2.stop();
  auto ra = a.report();
  auto r2 = b2.report();
  auto sb = status_of(fa, "b");
  EXPECT_EQ(ra.value("records", 0u), total) << ra.dump();
  EXPECT_EQ(ra.value("verified", 0u), total);
  EXPECT_EQ(ra.value("missing", 1u), 0u);
  EXPECT_EQ(ra.value("duplicates", 1u), 0u);
  EXPECT_EQ(ra.value("sequence_errors", 1u), 0u);
  EXPECT_TRUE(ra.value("malformed", nlohmann::json::object()).empty()) << ra.dump();
  // b after the restart: decodable from its first datagram, intact, nothing twice.
  EXPECT_EQ(r2.value("unknown_template_records", 1u), 0u) << r2.dump();
  EXPECT_TRUE(r2.value("malformed", nlohmann::json::object()).empty()) << r2.dump();
  EXPECT_EQ(r2.value("mismatched", 1u), 0u);
  EXPECT_EQ(r2.value("duplicates", 1u), 0u);
  EXPECT_GE(r2.value("records", 0u), 1000u) << "the last phase did not arrive whole";
  const std::uint64_t received = r1.value("records", 0u) + r2.value("records", 0u);
  EXPECT_LE(received, sb.sent_records);
  std::printf("b: sent %llu, received %llu, dropped %llu, reconnects %llu\n",
              static_cast<unsigned long long>(sb.sent_records),
              static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(sb.dropped_records),
              static_cast<unsigned long long>(sb.reconnects));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total",
                   {{"destination", "b"}, {"reason", "queue_full"}}),
            static_cast<double>(sb.dropped_records));
}
