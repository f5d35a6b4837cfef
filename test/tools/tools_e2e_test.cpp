// ipfix-loadgen -> ipfix-collector over loopback: the tools check each other. Port 0,
// --port-file, every wait bounded.

#include "ipfix/message_builder.hpp"
#include "test/support/process.hpp"
#include "tools/common/loadgen_content.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using fa::test::process;
using fa::test::read_file;
namespace fs = std::filesystem;

class ToolsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("tools-") + info->test_suite_name() + "-" + info->name();
    for (auto& c : name)
      if (c == '/')
        c = '-';
    dir_ = fa::test::scratch_dir(name);
  }
  void TearDown() override {
    if (HasFailure()) // show what the tools said
      for (auto name : {"collector.err", "loadgen.err"})
        if (fs::exists(dir_ / name))
          std::fprintf(stderr, "--- %s\n%s", name, read_file((dir_ / name).string()).c_str());
  }

  std::string file(const char* name) const { return (dir_ / name).string(); }

  std::unique_ptr<process> start_collector(std::vector<std::string> args,
                                           const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> argv = {FA_COLLECTOR_PATH,      "--listen",   listen,
                                     "--port-file",          file("port"), "--report",
                                     file("collector.json"), "--duration", "60s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<process>(argv, file("collector.out"), file("collector.err"));
  }

  /// Waits for the collector's --port-file.
  std::optional<std::string> port() { return fa::test::wait_for_file(file("port"), 10s); }

  std::unique_ptr<process> start_loadgen(const std::string& target, std::vector<std::string> args) {
    std::vector<std::string> argv = {FA_LOADGEN_PATH, "--target", target, "--report",
                                     file("loadgen.json")};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<process>(argv, file("loadgen.out"), file("loadgen.err"));
  }

  nlohmann::json report(const char* name) {
    return nlohmann::json::parse(read_file(file(name)), nullptr, false);
  }

  fs::path dir_;
};

struct smoke_case {
  const char* name;
  const char* kind;
  const char* listen;
  const char* target_host;
};

void PrintTo(const smoke_case& c, std::ostream* os) {
  *os << c.name;
}

class ToolsSmoke : public ToolsE2E, public ::testing::WithParamInterface<smoke_case> {};

TEST_P(ToolsSmoke, TenSessionsVerifiedEndToEnd) {
  auto c = start_collector({"--verify", "42", "--expect-odids", "1000:10", "--expect-records",
                            "1000", "--expect-total", "10000"},
                           GetParam().listen);
  auto p = port();
  ASSERT_TRUE(p) << "no port file";
  auto l = start_loadgen(
      std::string(GetParam().target_host) + ":" + *p,
      {"--sessions", "10", "--records", "1000", "--seed", "42", "--template", GetParam().kind});
  EXPECT_EQ(l->wait(60s), 0);
  EXPECT_EQ(c->wait(60s), 0);

  auto cr = report("collector.json");
  auto lr = report("loadgen.json");
  ASSERT_TRUE(cr.is_object()) << read_file(file("collector.json"));
  ASSERT_TRUE(lr.is_object()) << read_file(file("loadgen.json"));
  EXPECT_EQ(cr["connections"], 10);
  EXPECT_EQ(cr["records"], 10000);
  EXPECT_EQ(cr["verified"], 10000);
  EXPECT_EQ(cr["mismatched"], 0);
  EXPECT_EQ(cr["missing"], 0);
  EXPECT_EQ(cr["duplicates"], 0);
  EXPECT_EQ(cr["sequence_errors"], 0);
  EXPECT_EQ(cr["unknown_template_records"], 0);
  EXPECT_EQ(cr["malformed"], nlohmann::json::object());
  EXPECT_EQ(cr["odids"], 10);
  EXPECT_EQ(cr["template_records"], 10);
  EXPECT_EQ(cr["templates_distinct"], 1);
  EXPECT_EQ(cr["mismatch_examples"], nlohmann::json::array());
  EXPECT_EQ(lr["records"], 10000);
  EXPECT_EQ(lr["sessions"], 10);
  EXPECT_EQ(lr["complete"], true);
  // Everything sent arrived, message for message and byte for byte.
  EXPECT_EQ(lr["messages"], cr["messages"]);
  EXPECT_EQ(lr["bytes"], cr["bytes"]);
}

INSTANTIATE_TEST_SUITE_P(
    Templates, ToolsSmoke,
    ::testing::Values(smoke_case{"minimal", "minimal", "127.0.0.1:0", "127.0.0.1"},
                      smoke_case{"antrea_v4", "antrea-v4", "127.0.0.1:0", "127.0.0.1"},
                      smoke_case{"antrea_v6_over_ipv6", "antrea-v6", "[::1]:0", "[::1]"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ToolsE2E, WrongSeedIsReported) {
  auto c = start_collector({"--verify", "43", "--expect-total", "200"});
  auto p = port();
  ASSERT_TRUE(p);
  auto l = start_loadgen("127.0.0.1:" + *p, {"--sessions", "2", "--records", "100", "--seed", "42",
                                             "--template", "antrea-v4"});
  EXPECT_EQ(l->wait(60s), 0);
  EXPECT_EQ(c->wait(60s), 1) << "a failed check exits 1";
  auto cr = report("collector.json");
  EXPECT_EQ(cr["records"], 200);
  EXPECT_EQ(cr["verified"], 0);
  EXPECT_EQ(cr["mismatched"], 200);
  EXPECT_FALSE(cr["mismatch_examples"].empty());
  EXPECT_LE(cr["mismatch_examples"].size(), 8u);
}

TEST_F(ToolsE2E, MissingOdidsAndRecordsAreCounted) {
  // 3 sessions of 500 where 4 ODIDs x 600 records are expected.
  auto c = start_collector({"--verify", "1", "--expect-odids", "1000:4", "--expect-records", "600",
                            "--idle-exit", "300ms"});
  auto p = port();
  ASSERT_TRUE(p);
  auto l = start_loadgen("127.0.0.1:" + *p, {"--sessions", "3", "--records", "500", "--seed", "1"});
  EXPECT_EQ(l->wait(60s), 0);
  EXPECT_EQ(c->wait(60s), 1);
  auto cr = report("collector.json");
  EXPECT_EQ(cr["verified"], 1500);
  EXPECT_EQ(cr["missing"], 4 * 600 - 1500);
  EXPECT_EQ(cr["duplicates"], 0);
}

TEST_F(ToolsE2E, StampSaveAndPrint) {
  auto c = start_collector({"--verify", "9", "--stamp", "--expect-total", "600", "--save",
                            file("capture.ipfix"), "--print"});
  auto p = port();
  ASSERT_TRUE(p);
  auto l =
      start_loadgen("127.0.0.1:" + *p, {"--sessions", "3", "--records", "200", "--seed", "9",
                                        "--stamp", "--rate", "3000", "--records-per-message", "7"});
  EXPECT_EQ(l->wait(60s), 0);
  EXPECT_EQ(c->wait(60s), 0);
  auto cr = report("collector.json");
  EXPECT_EQ(cr["verified"], 600);
  EXPECT_EQ(cr["mismatched"], 0);
  // Latency was measured: positive, and far below a minute.
  EXPECT_GT(cr["latency_us"]["max"].get<double>(), 0.0);
  EXPECT_LE(cr["latency_us"]["p50"].get<double>(), cr["latency_us"]["p99"].get<double>());
  EXPECT_LT(cr["latency_us"]["max"].get<double>(), 60e6);
  // The capture is the concatenated messages, whole.
  auto capture = read_file(file("capture.ipfix"));
  EXPECT_EQ(capture.size(), cr["bytes"].get<std::size_t>());
  std::size_t pos = 0, messages = 0;
  while (pos + 16 <= capture.size()) {
    auto b = reinterpret_cast<const unsigned char*>(capture.data() + pos);
    ASSERT_EQ((b[0] << 8) | b[1], 10) << "version at " << pos;
    auto len = static_cast<std::size_t>((b[2] << 8) | b[3]);
    ASSERT_GE(len, 16u);
    pos += len;
    ++messages;
  }
  EXPECT_EQ(pos, capture.size());
  EXPECT_EQ(messages, cr["messages"].get<std::size_t>());
  // 200 records in messages of at most 7, per session, plus the template message.
  EXPECT_EQ(messages, 3u * (1 + (200 + 6) / 7));
  // One JSON object per record on stdout.
  std::istringstream lines(read_file(file("collector.out")));
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("packetTotalCount"));
    ++n;
  }
  EXPECT_EQ(n, 600u);
}

TEST_F(ToolsE2E, GracefulStopOnSigtermLosesNothing) {
  auto c = start_collector({"--verify", "5"});
  auto p = port();
  ASSERT_TRUE(p);
  // Paced so it is still sending when the collector is told to stop.
  auto l = start_loadgen("127.0.0.1:" + *p, {"--sessions", "4", "--records", "1000000", "--rate",
                                             "20000", "--seed", "5", "--template", "antrea-v4"});
  std::this_thread::sleep_for(700ms);
  c->signal(SIGTERM);
  // The collector shuts down its side; the loadgen sees EOF, stops, and closes; the
  // collector reads to the end and exits.
  EXPECT_EQ(c->wait(30s), 0);
  EXPECT_EQ(l->wait(30s), 3) << "loadgen reports that the peer stopped it";
  auto cr = report("collector.json");
  auto lr = report("loadgen.json");
  ASSERT_TRUE(cr.is_object());
  ASSERT_TRUE(lr.is_object());
  EXPECT_EQ(lr["complete"], false);
  EXPECT_GT(lr["records"].get<std::uint64_t>(), 1000u);
  EXPECT_LT(lr["records"].get<std::uint64_t>(), 4000000u);
  // Nothing the loadgen wrote was lost.
  EXPECT_EQ(cr["records"], lr["records"]);
  EXPECT_EQ(cr["bytes"], lr["bytes"]);
  EXPECT_EQ(cr["verified"], lr["records"]);
  EXPECT_EQ(cr["missing"], 0);
  EXPECT_EQ(cr["duplicates"], 0);
  EXPECT_EQ(cr["sequence_errors"], 0);
  EXPECT_EQ(cr["connections"], 4);
}

TEST_F(ToolsE2E, BadUsageExits2) {
  for (auto args :
       std::vector<std::vector<std::string>>{{FA_LOADGEN_PATH, "--no-such-flag"},
                                             {FA_LOADGEN_PATH, "--rate", "fast"},
                                             {FA_LOADGEN_PATH, "--template", "netflow"},
                                             {FA_LOADGEN_PATH, "--target", "::1:4739"},
                                             {FA_COLLECTOR_PATH, "--listen"},
                                             {FA_COLLECTOR_PATH, "--expect-records", "10"},
                                             {FA_COLLECTOR_PATH, "--idle-exit", "soon"}}) {
    process p(args, file("out"), file("err"));
    EXPECT_EQ(p.wait(10s), 2) << args[1];
    auto err = read_file(file("err"));
    EXPECT_NE(err.find(args[1]), std::string::npos) << err;
  }
  process help({FA_LOADGEN_PATH, "--help"}, file("out"), file("err"));
  EXPECT_EQ(help.wait(10s), 0);
  EXPECT_NE(read_file(file("out")).find("--records-per-message"), std::string::npos);
}

// --udp-ring: each exporter's datagrams are encoded once and sent round and round with
// only the header patched (RFC 7011 3.1: sequence number = data records sent before the
// message). The collector sees every record once per send, in sequence (no sequence
// error), the content repeating every N records (duplicates by index), and the session's
// last records in a shorter datagram (1000 is not a multiple of a datagram's records).
TEST_F(ToolsE2E, UdpRingRepeatsContentWithExactCountsAndSequence) {
  constexpr int sessions = 4, records = 1000, ring = 100;
  auto c = start_collector(
      {"--udp", "--verify", "5", "--expect-total", std::to_string(sessions * records)});
  auto p = port();
  ASSERT_TRUE(p);
  // Paced: the point is the content and the headers, not the rate (no loss on a busy
  // machine).
  auto l = start_loadgen("127.0.0.1:" + *p,
                         {"--transport", "udp", "--sessions", std::to_string(sessions), "--records",
                          std::to_string(records), "--udp-ring", std::to_string(ring), "--seed",
                          "5", "--template", "antrea-v4", "--rate", "40000"});
  EXPECT_EQ(l->wait(60s), 0);
  EXPECT_EQ(c->wait(60s), 1) << "repeated content is reported as duplicates, a failed check";
  auto cr = report("collector.json");
  auto lr = report("loadgen.json");
  EXPECT_EQ(cr["records"], sessions * records) << cr.dump();
  EXPECT_EQ(cr["verified"], sessions * records) << cr.dump();
  EXPECT_EQ(cr["duplicates"], sessions * (records - ring)) << cr.dump();
  EXPECT_EQ(cr["sequence_errors"], 0) << cr.dump();
  EXPECT_TRUE(cr["malformed"].empty()) << cr.dump();
  EXPECT_EQ(cr["datagrams"], lr["messages"]) << cr.dump() << lr.dump();
}

TEST_F(ToolsE2E, LoadgenFailsClearlyWhenNobodyListens) {
  // A port nobody listens on: bind one with the collector, then stop it.
  {
    auto c = start_collector({});
    auto p = port();
    ASSERT_TRUE(p);
    c->signal(SIGTERM);
    EXPECT_EQ(c->wait(10s), 0);
    auto l = start_loadgen("127.0.0.1:" + *p, {"--records", "10", "--connect-timeout", "2s"});
    EXPECT_EQ(l->wait(20s), 1);
  }
  auto err = read_file(file("loadgen.err"));
  EXPECT_NE(err.find("connect to 127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
}

/// Sends `bytes` to 127.0.0.1:`port` as one exporter, shuts down its side, and waits
/// (bounded) for the peer to close.
bool send_stream(const std::string& port, const std::vector<std::uint8_t>& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  std::size_t sent = 0;
  while (ok && sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    ok = n > 0;
    sent += ok ? static_cast<std::size_t>(n) : 0;
  }
  ::shutdown(fd, SHUT_WR);
  char buf[64];
  while (ok && ::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
  return ok;
}

TEST_F(ToolsE2E, CollectorIsStrict) {
  using namespace fa;
  // What a mediator sends: the loadgen fields, then clusterId, 405, 403, 404 and
  // flowDirection.
  auto def = tools::make_template(tools::template_kind::antrea_v4, 400);
  def.fields.push_back({158, ipfix::varlen, ipfix::antrea_pen});
  def.fields.push_back({405, 4, 0});
  def.fields.push_back({403, 4, 0});
  def.fields.push_back({404, 16, 0});
  def.fields.push_back({61, 1, 0});
  std::vector<std::uint8_t> out;
  ipfix::message_builder b(out);
  auto record = [&](std::uint64_t index, std::uint8_t exporter_first_octet) {
    tools::append_record(tools::template_kind::antrea_v4, 11, 1000, index, out);
    b.put_string("cluster-a");
    b.put_u32(1000);
    for (std::uint8_t v : {exporter_first_octet, std::uint8_t{0}, std::uint8_t{0}, std::uint8_t{1}})
      b.put_u8(v);
    for (int i = 0; i < 16; ++i)
      b.put_u8(0);
    b.put_u8(1);
  };
  constexpr std::uint32_t odid = 77; // the mediator's; 405 says 1000
  b.begin_message(0, 0, odid);
  b.begin_set(ipfix::template_set_id);
  b.add_template(def);
  b.end_message();
  b.begin_message(0, 0, odid); // records 0, 1, 2
  b.begin_set(400);
  for (std::uint64_t i = 0; i < 3; ++i)
    record(i, 127);
  b.end_message();
  b.begin_message(0, 3, odid); // record 3 from the wrong exporter address
  b.begin_set(400);
  record(3, 10);
  b.end_message();
  b.begin_message(0, 99, odid); // wrong sequence number (4 expected); a duplicate
  b.begin_set(400);
  record(1, 127);
  b.end_message();
  b.begin_message(0, 5, odid); // a data set whose template never came
  b.begin_set(500);
  b.put_u32(0xdeadbeef);
  b.end_message();
  b.begin_message(0, 5, odid); // a set running past its message
  b.begin_set(400);
  b.put_u32(0);
  b.end_message();
  out[out.size() - 5] = 100; // the set length's low octet

  auto c = start_collector({"--verify", "11", "--expect-exporter", "127.0.0.1", "--expect-odids",
                            "1000:1", "--expect-records", "4", "--idle-exit", "300ms"});
  auto p = port();
  ASSERT_TRUE(p);
  EXPECT_TRUE(send_stream(*p, out));
  EXPECT_EQ(c->wait(30s), 1);
  auto cr = report("collector.json");
  ASSERT_TRUE(cr.is_object());
  EXPECT_EQ(cr["connections"], 1);
  EXPECT_EQ(cr["messages"], 5) << "the malformed one is not counted";
  EXPECT_EQ(cr["bytes"], out.size());
  EXPECT_EQ(cr["records"], 5);
  EXPECT_EQ(cr["verified"], 4);
  EXPECT_EQ(cr["mismatched"], 1);
  EXPECT_EQ(cr["duplicates"], 1);
  EXPECT_EQ(cr["missing"], 1) << "index 3 never arrived intact";
  // 99 where 4 was due, then 5 where 100 was due: the check resyncs to the number it
  // sees (so a real gap, records lost, counts once), and a one-off bogus number twice.
  EXPECT_EQ(cr["sequence_errors"], 2);
  EXPECT_EQ(cr["unknown_template_records"], 1);
  EXPECT_EQ(cr["malformed"], (nlohmann::json{{"set_overruns_message", 1}}));
  EXPECT_EQ(cr["odids"], 1) << "per original ODID (405), not the header's";
  ASSERT_EQ(cr["mismatch_examples"].size(), 1u);
  EXPECT_NE(cr["mismatch_examples"][0].get<std::string>().find("expect-exporter"),
            std::string::npos);
}

} // namespace
