// Interop over TLS (RFC 7011 11) with a TLS implementation no one here wrote:
//   openssl s_client (mutual TLS) exports a loadgen-made IPFIX file into flow-aggregator;
//   flow-aggregator exports (mutual TLS) to openssl s_server, whose output ipfixDump
//   (libfixbuf) decodes.
// flow-aggregator runs in-process (test/integration/harness.hpp); certificates come from
// test/support/tls_pki.hpp. Every wait is bounded.

#include "test/integration/harness.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;
using fa::test::eventually;
using fa::test::metric;

constexpr const char* cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11";
constexpr std::uint32_t export_odid = 4001;

std::string str(const std::string& s) {
  return "\"" + s + "\"";
}

fa::config::config load(const std::string& text) {
  auto r = fa::config::load_string(text, "tls-interop.toml");
  for (auto& e : r.errors)
    ADD_FAILURE() << fa::config::to_string(e);
  return r.cfg.value_or(fa::config::config{});
}

/// A port nothing listens on now (bound once, then released).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

/// True once something listens on 127.0.0.1:`port`: binding it fails. (A probe
/// connection would be an accepted client to the server under test.)
bool listening(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool in_use = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0;
  ::close(fd);
  return in_use;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

/// What ipfixDump says about an IPFIX file: its statistics line, and per data record the
/// provenance elements (RFC 7119: 403, 404, 405).
struct dump_summary {
  std::string stats; ///< "*** File Stats: M Messages, N Data Records, T Template Records ***"
  std::uint64_t records = 0;
  std::map<std::string, std::uint64_t> exporter4, exporter6; ///< 403 / 404 values
  std::map<std::uint32_t, std::uint64_t> odids;              ///< 405 values
  std::map<std::uint32_t, std::uint64_t> header_odids;
  std::string err;
  int rc = -1;
};

dump_summary ipfix_dump(const std::string& dir, const std::string& file) {
  dump_summary d;
  std::string out;
  auto err_file = dir + "/ipfixdump.err";
  {
    fa::test::process p{{"ipfixDump", "--in", file}, dir + "/ipfixdump.out", err_file};
    d.rc = p.wait(60s).value_or(-2);
  }
  d.err = fa::test::read_file(err_file);
  auto after = [](const std::string& l, const std::string& key) -> std::optional<std::string> {
    auto pos = l.find(key);
    if (pos == std::string::npos)
      return std::nullopt;
    return l.substr(pos + key.size());
  };
  for (auto& l : split_lines(fa::test::read_file(dir + "/ipfixdump.out"))) {
    if (l.rfind("*** File Stats: ", 0) == 0)
      d.stats = l;
    else if (l.rfind("--- data record ", 0) == 0)
      ++d.records;
    else if (auto v = after(l, "originalExporterIPv4Address : "))
      ++d.exporter4[*v];
    else if (auto v = after(l, "originalExporterIPv6Address : "))
      ++d.exporter6[*v];
    else if (auto v = after(l, "originalObservationDomainId : "))
      ++d.odids[static_cast<std::uint32_t>(std::stoul(*v))];
    else if (auto v = after(l, "observation domain id: "))
      ++d.header_odids[static_cast<std::uint32_t>(std::stoul(*v))];
  }
  return d;
}

class tls_interop : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fa::test::scratch_dir(std::string{"tls-interop-"} + info->name());
    pki_ = std::make_unique<fa::test::tls_pki>(dir_);
  }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  /// Starts `openssl s_server` with the test server certificate, requiring a client
  /// certificate signed by `client_ca`; what it receives goes to s_server.out. Returns
  /// the port, 0 when it could not start.
  std::uint16_t start_s_server(const std::string& client_ca) {
    auto s = pki_->server();
    // s_server ends a connection when its standard input ends, even with -quiet: give
    // it a FIFO opened read-write, which never ends and never delivers a byte.
    auto fifo = file("s_server.stdin");
    ::mkfifo(fifo.c_str(), 0600);
    // The free port may be taken between the probe and s_server's bind: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto port = free_port();
      auto cmd = "exec openssl s_server -accept 127.0.0.1:" + std::to_string(port) + " -cert '" +
                 s.cert + "' -key '" + s.key + "' -CAfile '" + client_ca +
                 "' -Verify 1 -verify_return_error -quiet <> '" + fifo + "'";
      auto p = std::make_unique<fa::test::process>(std::vector<std::string>{"sh", "-c", cmd},
                                                   file("s_server.out"), file("s_server.err"));
      if (eventually([&] { return listening(port) || !p->running(); }, 10s) && p->running()) {
        s_server_ = std::move(p);
        return port;
      }
    }
    return 0;
  }

  void stop_s_server() {
    if (s_server_) {
      s_server_->signal(SIGTERM);
      s_server_->wait(10s);
    }
  }

  std::unique_ptr<fa::test::process> s_server_;
  std::string dir_;
  std::unique_ptr<fa::test::tls_pki> pki_;
};

} // namespace

// openssl s_client, authenticated by a client certificate of the configured CA, sends a
// file of IPFIX messages (ipfix-loadgen --write: two exporters' streams, one after the
// other) into a tls:// listener. Every record reaches the collector enriched with
// 403 = 127.0.0.1 and 405 = the exporter's ODID, and ipfixDump agrees.
TEST_F(tls_interop, openssl_s_client_exports_into_flow_aggregator) {
  constexpr int sessions = 2, records = 700;
  auto input = file("input.ipfix");
  std::string out;
  ASSERT_EQ(fa::test::run_command({fa::test::binary("tools/ipfix-loadgen"), "--write", input,
                                   "--sessions", std::to_string(sessions), "--records",
                                   std::to_string(records), "--seed", "3", "--odid-base", "500"},
                                  out),
            0)
      << out;
  fa::test::collector col{dir_,
                          {"--verify", "3", "--expect-exporter", "127.0.0.1", "--expect-total",
                           std::to_string(sessions * records), "--save", file("out.ipfix")}};
  auto s = pki_->server();
  fa::test::running fa{
      load(std::string{"cluster_id = \""} + cluster_id +
           "\"\n[collector]\nlisten = [\"tls://127.0.0.1:0\"]\n"
           "[collector.tls]\ncert = " +
           str(s.cert) + "\nkey = " + str(s.key) + "\nclient_ca = " + str(pki_->ca()) +
           "\nallowed_names = [\"agent-a\"]\n" +
           fa::test::tcp_destination(col.port(), "observation_domain_id = 4001\n") +
           "[admin]\nlisten = \"\"\n")};
  auto a = pki_->client("agent-a");
  // exec: the child is openssl itself. -no_ign_eof after -quiet: the end of the file
  // sends close_notify and ends the connection; -nocommands: a read starting with 'Q'
  // or 'R' is data, not a command.
  auto rc = fa::test::run_command(
      {"sh", "-c",
       "exec openssl s_client -connect 127.0.0.1:" + std::to_string(fa.port) + " -cert '" + a.cert +
           "' -key '" + a.key + "' -CAfile '" + pki_->ca() +
           "' -verify_return_error -quiet -no_ign_eof -nocommands < '" + input + "'"},
      out, 60s);
  ASSERT_EQ(rc, 0) << out;
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), sessions * records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), sessions * records) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "tls"}}), 1);

  auto d = ipfix_dump(dir_, file("out.ipfix"));
  EXPECT_EQ(d.rc, 0);
  EXPECT_TRUE(d.err.empty()) << d.err;
  EXPECT_EQ(d.records, sessions * records) << d.stats;
  EXPECT_EQ(d.exporter4["127.0.0.1"], sessions * records);
  EXPECT_EQ(d.odids, (std::map<std::uint32_t, std::uint64_t>{{500, records}, {501, records}}));
  EXPECT_EQ(d.header_odids.size(), 1u);
  EXPECT_GT(d.header_odids[export_odid], 0u);
}

// flow-aggregator exports over TLS to openssl s_server, which requires a client
// certificate of the test CA (-Verify) and writes what it receives to a file; ipfixDump
// decodes that file: every record, with 403/404/405 right.
TEST_F(tls_interop, flow_aggregator_exports_to_openssl_s_server) {
  constexpr int sessions = 2, records = 600;
  auto port = start_s_server(pki_->ca());
  ASSERT_NE(port, 0) << fa::test::read_file(file("s_server.err"));

  auto a = pki_->client("agent-a");
  double sent_bytes = 0;
  {
    fa::test::running fa{fa::test::test_config(
        "[[destination]]\nname = \"tls\"\nurl = \"ipfix+tls://127.0.0.1:" + std::to_string(port) +
        "\"\nflush_interval = \"5ms\"\nobservation_domain_id = 4001\ntls_ca = " + str(pki_->ca()) +
        "\ntls_cert = " + str(a.cert) + "\ntls_key = " + str(a.key) + "\n")};
    ASSERT_EQ(fa::test::run_loadgen(fa.port,
                                    {"--sessions", std::to_string(sessions), "--records",
                                     std::to_string(records), "--seed", "8", "--odid-base", "700"}),
              0);
    ASSERT_TRUE(eventually([&] {
      return metric(fa.sup, "flow_aggregator_records_sent_total", {{"destination", "tls"}}) ==
             sessions * records;
    })) << fa::test::read_file(file("s_server.err"));
    sent_bytes = metric(fa.sup, "flow_aggregator_sent_bytes_total", {{"destination", "tls"}});
    // s_server writes what it reads straight to its output: wait for all of it.
    EXPECT_TRUE(eventually([&] {
      std::error_code ec;
      return static_cast<double>(fs::file_size(file("s_server.out"), ec)) == sent_bytes;
    })) << fs::file_size(file("s_server.out"))
        << " of " << sent_bytes << " octets";
    EXPECT_EQ(metric(fa.sup, "flow_aggregator_destination_tls_failures_total"), 0);
  }
  stop_s_server();

  auto d = ipfix_dump(dir_, file("s_server.out"));
  EXPECT_EQ(d.rc, 0);
  EXPECT_TRUE(d.err.empty()) << d.err;
  EXPECT_EQ(d.records, sessions * records) << d.stats;
  EXPECT_EQ(d.exporter4["127.0.0.1"], sessions * records);
  EXPECT_EQ(d.exporter6.size(), 1u); // all "::": IPv4 exporters
  EXPECT_EQ(d.odids, (std::map<std::uint32_t, std::uint64_t>{{700, records}, {701, records}}));
  EXPECT_EQ(d.header_odids.size(), 1u);
  EXPECT_GT(d.header_odids[export_odid], 0u);
}

// s_server trusting only another CA refuses flow-aggregator's client certificate: the
// destination counts the refusal and never reports itself up.
TEST_F(tls_interop, openssl_s_server_refusing_our_certificate_is_counted) {
  auto port = start_s_server(pki_->other_ca());
  ASSERT_NE(port, 0) << fa::test::read_file(file("s_server.err"));
  auto a = pki_->client("agent-a");
  fa::test::running fa{fa::test::test_config(
      "[[destination]]\nname = \"tls\"\nurl = \"ipfix+tls://127.0.0.1:" + std::to_string(port) +
      "\"\nflush_interval = \"5ms\"\nreconnect_min = \"100ms\"\nreconnect_max = \"200ms\"\n"
      "tls_ca = " +
      str(pki_->ca()) + "\ntls_cert = " + str(a.cert) + "\ntls_key = " + str(a.key) + "\n")};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--records", "50"}), 0);
  EXPECT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_destination_tls_failures_total",
                  {{"destination", "tls"}, {"reason", "peer_rejected_certificate"}}) >= 1;
  })) << fa::test::read_file(file("s_server.err"));
  // Under TLS 1.3 our side may write before the refusal arrives; s_server passes none of
  // it on.
  std::error_code ec;
  EXPECT_EQ(fs::file_size(file("s_server.out"), ec), 0u);
  stop_s_server();
}
