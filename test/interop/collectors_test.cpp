// Interop over UDP (issue 3, RFC 7011 10.3): flow-aggregator exports IPFIX over UDP to
// collectors no one here wrote, and they account for every record:
//   ipfix-loadgen --TCP--> flow-aggregator --UDP--> pmacct nfacctd | nfdump nfcapd
//                                                    | ipfix-collector --udp (+ tshark)
// Which of the provenance elements each tool decodes:
// - nfacctd: 403/404/405 through `aggregate_primitives` (pmacct has no built-in primitive
//   for them; the custom primitives name the IANA field types), so it prints all three.
// - nfdump 1.7: none of 403/404/405 (its IPFIX decoder has no extension for them); it
//   stores and counts the records and names flow-aggregator as the exporter.
// - tshark: all three (cflow.original_exporter_ipv4_address, ..._ipv6_address,
//   cflow.original_observation_domain_id).
// A missing tool skips its test with the reason.

#include "ipfix/message_builder.hpp"
#include "test/support/process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <asio.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fa::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11";
constexpr std::uint32_t export_odid = 4001;
/// The UDP destination's max_message_size: below the default, so that packing to the
/// limit is visible and checked on the wire.
constexpr std::size_t max_message = 1200;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = text.find(sep, start);
    out.push_back(text.substr(start, pos - start));
    if (pos == std::string::npos)
      return out;
    start = pos + 1;
  }
}

std::vector<std::string> lines(const std::string& text) {
  auto out = split(text, '\n');
  if (!out.empty() && out.back().empty())
    out.pop_back();
  return out;
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string{path != nullptr ? path : ""} + ":/usr/sbin:/sbin";
  for (auto& d : split(dirs, ':'))
    if (!d.empty() && ::access((fs::path{d} / tool).c_str(), X_OK) == 0)
      return true;
  return false;
}

std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

/// A UDP port free right now on 127.0.0.1 (for tools that take no port 0).
std::uint16_t free_udp_port() {
  asio::io_context io;
  asio::ip::udp::socket s{io, {asio::ip::address_v4::loopback(), 0}};
  return s.local_endpoint().port();
}

/// True when no UDP socket bound to 127.0.0.1:`port` has unread datagrams
/// (/proc/net/udp: "local_address tx_queue:rx_queue" in hex).
bool udp_queue_empty(std::uint16_t port) {
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", port);
  for (auto& l : lines(read_file("/proc/net/udp"))) {
    auto cols = split(l, ' ');
    cols.erase(std::remove(cols.begin(), cols.end(), std::string{}), cols.end());
    if (cols.size() > 4 && cols[1] == local)
      return cols[4].substr(cols[4].find(':') + 1) == "00000000";
  }
  return true;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

/// What the loadgen sends: per original ODID, records.
struct load {
  std::string kind;
  std::uint32_t sessions;
  std::uint64_t records; ///< per session
  std::uint32_t odid_base;
};

const std::vector<load> loads = {
    {"antrea-v4", 2, 600, 1000},
    {"minimal", 1, 400, 3000},
};

std::map<std::uint32_t, std::uint64_t> expected_per_odid() {
  std::map<std::uint32_t, std::uint64_t> m;
  for (auto& l : loads)
    for (std::uint32_t s = 0; s < l.sessions; ++s)
      m[l.odid_base + s] += l.records;
  return m;
}

std::uint64_t expected_total() {
  std::uint64_t n = 0;
  for (auto& [_, k] : expected_per_odid())
    n += k;
  return n;
}

class collectors : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("FA_SOURCE_DIR", FA_INTEROP_SOURCE_DIR, 0);
    ::setenv("FA_BINARY_DIR", FA_INTEROP_BINARY_DIR, 0);
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = scratch_dir(std::string{"collectors-"} + info->name());
    fs::create_directories(file("state"));
  }

  void TearDown() override {
    kill_strays();
    if (HasFailure())
      for (auto name : {"fa.err", "tool.err", "tool.out", "capture.err"})
        if (fs::exists(file(name)))
          std::fprintf(stderr, "--- %s (in %s)\n%s\n", name, dir_.c_str(),
                       tail(read_file(file(name))).c_str());
  }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  /// Kills what a tool forked and left behind (nfacctd's core has outlived its signals
  /// and the test): any process whose standard output is this test's tool.out. Bounded:
  /// one pass over /proc.
  void kill_strays() {
    const auto out = fs::weakly_canonical(file("tool.out")).string();
    std::error_code ec;
    for (auto& entry : fs::directory_iterator{"/proc", ec}) {
      auto name = entry.path().filename().string();
      if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit))
        continue;
      std::error_code link_ec;
      auto target = fs::read_symlink(entry.path() / "fd" / "1", link_ec);
      if (!link_ec && target.string() == out)
        ::kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
    }
  }

  /// Starts flow-aggregator: a TCP listener, one ipfix+udp destination to `udp_port`;
  /// `gso` is its `udp_gso`.
  void start_fa(std::uint16_t udp_port, bool gso = true) {
    std::ofstream cfg{file("fa.toml")};
    cfg << "cluster_id = \"" << cluster_id << "\"\n[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
        << "[[destination]]\nname = \"udp\"\nurl = \"ipfix+udp://127.0.0.1:" << udp_port
        << "\"\nflush_interval = \"5ms\"\nmax_message_size = " << max_message
        << "\nobservation_domain_id = " << export_odid
        << "\ntemplate_refresh_messages = 50\nudp_gso = " << (gso ? "true" : "false")
        << "\n[admin]\nlisten = \"\"\n";
    cfg.close();
    ::setenv("FA_STATE_DIR", file("state").c_str(), 1);
    fa_ = std::make_unique<process>(
        std::vector<std::string>{binary("app/flow-aggregator"), "run", "-c", file("fa.toml")},
        file("fa.out"), file("fa.err"));
    ASSERT_TRUE(eventually(
        [&] {
          for (auto& l : lines(read_file(file("fa.err"))))
            if (contains(l, "event=listening")) {
              auto pos = l.find(" port=");
              fa_port_ = std::stoi(l.substr(pos + 6));
              return true;
            }
          return !fa_->running();
        },
        30s));
    ASSERT_TRUE(fa_->running()) << "flow-aggregator exited at startup";
    ASSERT_NE(fa_port_, 0);
  }

  /// The loads, paced: UDP receivers drop what their socket buffer cannot hold.
  void run_loads() {
    for (auto& l : loads) {
      std::string name = "loadgen-" + l.kind;
      process p{{binary("tools/ipfix-loadgen"), "--target", "127.0.0.1:" + std::to_string(fa_port_),
                 "--sessions", std::to_string(l.sessions), "--records", std::to_string(l.records),
                 "--template", l.kind, "--odid-base", std::to_string(l.odid_base),
                 "--records-per-message", "40", "--rate", "8000", "--seed", "5"},
                file(name + ".out"),
                file(name + ".err")};
      auto rc = p.wait(60s);
      ASSERT_TRUE(rc) << name << " did not finish";
      ASSERT_EQ(*rc, 0) << name << ": " << read_file(file(name + ".err"));
    }
  }

  /// SIGTERM: flow-aggregator drains its destination before it exits.
  void stop_fa() {
    fa_->signal(SIGTERM);
    auto rc = fa_->wait(60s);
    ASSERT_TRUE(rc) << "flow-aggregator did not stop";
    EXPECT_EQ(*rc, 0);
    auto log = read_file(file("fa.err"));
    EXPECT_TRUE(contains(log, "event=stopped undelivered_bytes=0")) << "not drained";
    EXPECT_FALSE(contains(log, "level=error"));
  }

  std::string dir_;
  std::unique_ptr<process> fa_;
  std::uint16_t fa_port_ = 0;
};

// pmacct nfacctd (print plugin, JSON lines): every record, with 403/404/405 decoded.
TEST_F(collectors, nfacctd_accounts_for_every_record) {
  if (!on_path("nfacctd"))
    GTEST_SKIP() << "nfacctd (pmacct) is not installed: run scripts/install-deps.sh";
  auto port = free_udp_port();
  {
    std::ofstream prim{file("primitives.lst")};
    // RFC 7133 / IANA: originalExporterIPv4Address, ...IPv6Address,
    // originalObservationDomainId.
    prim << "name=orig_exporter_v4 field_type=403 len=4 semantics=ip\n"
            "name=orig_exporter_v6 field_type=404 len=16 semantics=ip\n"
            "name=orig_odid field_type=405 len=4 semantics=u_int\n";
    std::ofstream conf{file("nfacctd.conf")};
    // One output line per record: the aggregation key is the 5-tuple and the three
    // provenance fields, unique per loadgen record; appended on every short refresh.
    conf << "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: " << port
         << "\nplugins: print\nprint_output: json\nprint_output_file: " << file("records.json")
         << "\nprint_output_file_append: true\nprint_refresh_time: 1\n"
         << "aggregate_primitives: " << file("primitives.lst")
         << "\naggregate: src_host, dst_host, src_port, dst_port, proto, orig_exporter_v4, "
            "orig_exporter_v6, orig_odid\n";
  }
  process tool{{"nfacctd", "-f", file("nfacctd.conf")}, file("tool.out"), file("tool.err")};
  ASSERT_TRUE(eventually([&] { return contains(read_file(file("tool.err")), "waiting for"); }, 20s))
      << "nfacctd did not start";
  ASSERT_NO_FATAL_FAILURE(start_fa(port));
  ASSERT_NO_FATAL_FAILURE(run_loads());
  ASSERT_NO_FATAL_FAILURE(stop_fa());
  const auto total = expected_total();
  auto count = [&] { return lines(read_file(file("records.json"))).size(); };
  EXPECT_TRUE(eventually([&] { return count() >= total; }, 30s));
  tool.signal(SIGINT);
  tool.wait(5s); // the core may outlive SIGINT; the destructor kills it

  std::map<std::uint32_t, std::uint64_t> per_odid;
  std::uint64_t wrong_exporter = 0;
  for (auto& l : lines(read_file(file("records.json")))) {
    auto j = nlohmann::json::parse(l);
    ++per_odid[static_cast<std::uint32_t>(std::stoul(j.at("orig_odid").get<std::string>()))];
    if (j.at("orig_exporter_v4") != "127.0.0.1" || j.at("orig_exporter_v6") != "::")
      ++wrong_exporter;
  }
  EXPECT_EQ(per_odid, expected_per_odid()) << "records per originalObservationDomainId";
  EXPECT_EQ(wrong_exporter, 0u) << "records whose 403/404 are not 127.0.0.1 / ::";
}

// nfdump's nfcapd stores every record; nfdump -R reads them back.
TEST_F(collectors, nfcapd_stores_every_record) {
  if (!on_path("nfcapd") || !on_path("nfdump"))
    GTEST_SKIP() << "nfcapd/nfdump are not installed: run scripts/install-deps.sh";
  auto port = free_udp_port();
  fs::create_directories(file("flows"));
  process tool{{"nfcapd", "-b", "127.0.0.1", "-p", std::to_string(port), "-w", file("flows"), "-t",
                "3600", "-B", "4194304"},
               file("tool.out"),
               file("tool.err")};
  auto started = [&] {
    return contains(read_file(file("tool.out")) + read_file(file("tool.err")), "Startup");
  };
  ASSERT_TRUE(eventually(started, 20s)) << "nfcapd did not start";
  ASSERT_NO_FATAL_FAILURE(start_fa(port));
  ASSERT_NO_FATAL_FAILURE(run_loads());
  ASSERT_NO_FATAL_FAILURE(stop_fa());
  // nfcapd writes its file and a statistics line when it stops.
  // nfcapd stops reading at the signal: first let it read every datagram queued for it.
  EXPECT_TRUE(eventually([&] { return udp_queue_empty(port); }, 20s));
  tool.signal(SIGTERM);
  auto rc = tool.wait(20s);
  ASSERT_TRUE(rc) << "nfcapd did not stop";
  auto log = read_file(file("tool.out")) + read_file(file("tool.err"));
  const auto total = expected_total();
  EXPECT_TRUE(contains(log, "Flows: " + std::to_string(total) + ","))
      << "nfcapd's own count differs from " << total;
  EXPECT_TRUE(contains(log, "Sequence Errors: 0, Bad Packets: 0"))
      << "nfcapd saw sequence gaps or bad packets (RFC 7011 3.1)";

  auto dump_out = file("nfdump.out");
  {
    process dump{{"nfdump", "-R", file("flows"), "-o", "json"}, dump_out, file("nfdump.err")};
    auto drc = dump.wait(60s);
    ASSERT_TRUE(drc && *drc == 0) << read_file(file("nfdump.err"));
  }
  std::uint64_t flows = 0, from_us = 0;
  for (auto& l : lines(read_file(dump_out))) {
    if (contains(l, "\"type\" : \"FLOW\""))
      ++flows;
    if (contains(l, "\"ip4_router\" : \"127.0.0.1\""))
      ++from_us;
  }
  EXPECT_EQ(flows, total) << "nfdump -R read back a different number of records";
  EXPECT_EQ(from_us, total) << "records whose exporter is not flow-aggregator";
}

// tshark decodes the datagrams captured on lo: no malformed packet, no expert warning,
// every record with 403/404/405, and no datagram larger than max_message_size. Our
// strict collector receives them (ipfix-collector --udp) and checks them as well.
TEST_F(collectors, tshark_decodes_the_udp_datagrams) {
  if (!on_path("tshark") || !on_path("dumpcap"))
    GTEST_SKIP() << "tshark is not installed: run scripts/install-deps.sh";
  process col{{binary("tools/ipfix-collector"), "--udp", "--listen", "127.0.0.1:0", "--port-file",
               file("collector.port"), "--report", file("collector.json"), "--verify", "5",
               "--max-datagram", std::to_string(max_message)},
              file("tool.out"),
              file("tool.err")};
  auto port_text = wait_for_file(file("collector.port"), 20s);
  ASSERT_TRUE(port_text) << "ipfix-collector did not start";
  auto port = std::stoi(*port_text);
  auto pcap = file("capture.pcap");
  process cap{
      {"dumpcap", "-q", "-P", "-i", "lo", "-f", "udp port " + std::to_string(port), "-w", pcap},
      file("capture.out"),
      file("capture.err")};
  // dumpcap says so on stderr once the capture runs.
  bool capturing = eventually(
      [&] { return contains(read_file(file("capture.err")), "Capturing on") || !cap.running(); },
      20s);
  if (!capturing || !cap.running())
    GTEST_SKIP() << "cannot capture on lo (needs CAP_NET_RAW): "
                 << tail(read_file(file("capture.err")), 500);
  // A capture on the sending host sees a UDP GSO send before the kernel cuts it into
  // datagrams (one frame holding several messages): tshark is shown plain datagrams.
  // The other collectors here receive the GSO sends.
  ASSERT_NO_FATAL_FAILURE(start_fa(static_cast<std::uint16_t>(port), /*gso=*/false));
  ASSERT_NO_FATAL_FAILURE(run_loads());
  ASSERT_NO_FATAL_FAILURE(stop_fa());
  const auto total = expected_total();
  col.signal(SIGTERM);
  ASSERT_TRUE(col.wait(30s));
  auto report = nlohmann::json::parse(read_file(file("collector.json")));
  EXPECT_EQ(report.at("records"), total) << report.dump();
  EXPECT_EQ(report.at("verified"), total);
  EXPECT_TRUE(report.at("malformed").empty()) << report.dump();
  EXPECT_EQ(report.at("unknown_template_records"), 0);
  EXPECT_EQ(report.at("sequence_errors"), 0);
  EXPECT_LE(report.at("max_datagram").get<std::size_t>(), max_message);
  // Stop dumpcap once its file holds every datagram (pcap: 24-octet file header; per
  // packet 16 octets of record header, 14 Ethernet, 20 IPv4, 8 UDP), or after 10 s if it
  // buffers: then SIGINT makes it write the rest, and a missed packet fails the count.
  const auto want_size = 24 + 58 * report.at("datagrams").get<std::uint64_t>() +
                         report.at("bytes").get<std::uint64_t>();
  eventually(
      [&] {
        std::error_code ec;
        return fs::file_size(pcap, ec) >= want_size && !ec;
      },
      10s);
  cap.signal(SIGINT);
  ASSERT_TRUE(cap.wait(20s));

  const std::string decode = "udp.port==" + std::to_string(port) + ",cflow";
  auto run = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> argv{"tshark", "-n", "-r", pcap, "-d", decode};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process p{argv, file(name + ".out"), file(name + ".err")};
    auto rc = p.wait(60s);
    EXPECT_TRUE(rc && *rc == 0) << "tshark " << name << ": " << read_file(file(name + ".err"));
    return read_file(file(name + ".out"));
  };
  auto bad = run("tshark-errors", {"-Y", "_ws.malformed || _ws.expert.severity >= warning", "-T",
                                   "fields", "-e", "frame.number", "-e", "_ws.expert.message"});
  EXPECT_TRUE(bad.empty()) << "tshark reports malformed packets or warnings:\n" << tail(bad);

  auto rows = run("tshark-fields", {"-Y", "cflow",
                                    "-T", "fields",
                                    "-E", "occurrence=a",
                                    "-E", "aggregator=,",
                                    "-E", "separator=/t",
                                    "-e", "udp.length",
                                    "-e", "cflow.od_id",
                                    "-e", "cflow.original_observation_domain_id",
                                    "-e", "cflow.original_exporter_ipv4_address",
                                    "-e", "cflow.original_exporter_ipv6_address"});
  std::uint64_t frames = 0, too_large = 0, wrong_odid = 0, wrong_exporter = 0;
  std::map<std::uint32_t, std::uint64_t> per_odid;
  for (auto& row : lines(rows)) {
    auto cols = split(row, '\t');
    ASSERT_EQ(cols.size(), 5u) << row;
    ++frames;
    // udp.length counts the 8-octet UDP header: the IPFIX message is the rest.
    if (std::stoul(cols[0]) - 8 > max_message)
      ++too_large;
    for (auto& v : split(cols[1], ','))
      wrong_odid += v != std::to_string(export_odid);
    if (!cols[2].empty())
      for (auto& v : split(cols[2], ','))
        ++per_odid[static_cast<std::uint32_t>(std::stoul(v))];
    if (!cols[3].empty())
      for (auto& v : split(cols[3], ','))
        wrong_exporter += v != "127.0.0.1";
    if (!cols[4].empty())
      for (auto& v : split(cols[4], ','))
        wrong_exporter += v != "::";
  }
  EXPECT_EQ(frames, report.at("datagrams").get<std::uint64_t>())
      << "tshark decoded a different number of IPFIX datagrams than the collector received";
  EXPECT_EQ(too_large, 0u) << "datagrams larger than max_message_size " << max_message;
  EXPECT_EQ(wrong_odid, 0u);
  EXPECT_EQ(per_odid, expected_per_odid()) << "records per originalObservationDomainId";
  EXPECT_EQ(wrong_exporter, 0u) << "403/404 values other than 127.0.0.1 / ::";
}

// ipfix-collector --udp is as strict as the checks above rely on: a datagram that is not
// exactly one message, one larger than --max-datagram, and a template withdrawal (RFC
// 7011 8.4: never over UDP) are each reported; valid records around them still count.
TEST_F(collectors, ipfix_collector_udp_flags_what_a_udp_exporter_must_not_send) {
  process col{{binary("tools/ipfix-collector"), "--udp", "--listen", "127.0.0.1:0", "--port-file",
               file("collector.port"), "--report", file("collector.json"), "--max-datagram", "600",
               "--expect-total", "43"},
              file("tool.out"),
              file("tool.err")};
  auto port_text = wait_for_file(file("collector.port"), 20s);
  ASSERT_TRUE(port_text) << "ipfix-collector did not start";
  const fa::ipfix::template_def t{256, 0, {{8, 4, 0}, {12, 4, 0}, {1, 8, 0}}};
  std::uint32_t seq = 0;
  auto message = [&](int records, bool with_template, bool withdraw = false) {
    std::vector<std::uint8_t> out;
    fa::ipfix::message_builder b{out};
    b.begin_message(0, seq, 9);
    if (with_template || withdraw) {
      b.begin_set(fa::ipfix::template_set_id);
      if (withdraw)
        b.add_withdrawal(256);
      else
        b.add_template(t);
      b.end_set();
    }
    if (records > 0) {
      b.begin_set(256);
      for (int i = 0; i < records; ++i) {
        b.put_u32(1);
        b.put_u32(2);
        b.put_u64(static_cast<std::uint64_t>(i));
      }
      b.end_set();
    }
    b.end_message();
    seq += static_cast<std::uint32_t>(records);
    return out;
  };
  // The bad ones first; the records last (in order on loopback), so --expect-total ends
  // the run after everything was read.
  std::vector<std::vector<std::uint8_t>> datagrams;
  datagrams.push_back(message(0, false, true)); // a withdrawal
  auto two = message(0, true);                  // two messages in one datagram
  auto second = message(0, true);
  two.insert(two.end(), second.begin(), second.end());
  datagrams.push_back(two);
  auto cut = message(0, true); // truncated: the header claims more than arrived
  cut.resize(cut.size() - 5);
  datagrams.push_back(cut);
  datagrams.push_back(message(3, true));   // fine: 3 records
  datagrams.push_back(message(40, false)); // 676 octets > --max-datagram 600, yet decoded
  asio::io_context io;
  asio::ip::udp::socket s{io, asio::ip::udp::v4()};
  s.connect({asio::ip::address_v4::loopback(), static_cast<std::uint16_t>(std::stoi(*port_text))});
  for (auto& d : datagrams)
    s.send(asio::buffer(d));
  // --expect-total 43: the collector stops by itself once it has read the last datagram.
  auto rc = col.wait(20s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 1) << "ipfix-collector must fail on these datagrams";
  auto r = nlohmann::json::parse(read_file(file("collector.json")));
  auto malformed = r.at("malformed");
  EXPECT_EQ(malformed.value("datagram_not_one_message", 0), 2) << r.dump();
  EXPECT_EQ(malformed.value("datagram_too_large", 0), 1) << r.dump();
  EXPECT_EQ(malformed.value("template_ignored_withdrawal", 0), 1) << r.dump();
  EXPECT_EQ(r.at("records"), 3 + 40);
  EXPECT_EQ(r.at("datagrams"), 5);
}

} // namespace
} // namespace fa::test
