// The ClickHouse writer against a real clickhouse-server (Debian 12's 18.16), started per
// test on its own directory and ports: every column arrives with its value, in RowBinary
// and JSONEachRow, gzipped or not; the schema we print creates the table; schema and
// type mismatches are refused with the server's (or our) reason; an outage, a wrong
// password and a lost response are retried, and a lost response may insert twice.

#include "sinks/clickhouse_writer.hpp"
#include "test/sinks/record_builder.hpp"
#include "test/support/clickhouse_server.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

using namespace fa::sinks;
using fa::test::clickhouse_server;

namespace {

std::string create_flows(const clickhouse_server& s, const std::string& table = "flows") {
  return s.must(create_table_statement("default", table));
}

clickhouse_writer_options options_for(std::uint16_t port) {
  clickhouse_writer_options o;
  o.endpoint.host = "127.0.0.1";
  o.endpoint.port = port;
  o.endpoint.connect_timeout = std::chrono::seconds{5};
  o.endpoint.request_timeout = std::chrono::seconds{30};
  o.cluster_uuid = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11";
  return o;
}

/// Every inserted column of `table` as TabSeparated, DateTime as Unix seconds, in order.
std::string select_all(const clickhouse_server& s, const std::string& order_by,
                       const std::string& table = "flows") {
  std::string cols;
  for (auto c : clickhouse_columns()) {
    if (!cols.empty())
      cols += ", ";
    cols += info(c).type == column_type::date_time ? "toUInt32(" + std::string{info(c).name} + ")"
                                                   : std::string{info(c).name};
  }
  return s.must("SELECT " + cols + " FROM " + table + " ORDER BY " + order_by +
                " FORMAT TabSeparated");
}

std::string count(const clickhouse_server& s, const std::string& table = "flows") {
  return s.must("SELECT count() FROM " + table);
}

// The known record (test::antrea_record()) as ClickHouse gives it back.
const std::string known_row =
    "1700000000\t1700000060\t0\t0\t3\t10.10.0.5\t10.10.1.7\t43512\t5201\t6\t1000\t1500000\t100\t"
    "150000\t900\t60000\t90\t6000\tiperf-client\tantrea-test\tk8s-node-1\tiperf-server\tantrea-"
    "test\tk8s-node-2\t10.96.0.10\t5201\tantrea-test/iperf:tcp\tallow-iperf\tantrea-test\trule1\t"
    "1\t2\t\t\t\t0\t0\tESTABLISHED\t2\t{\"antrea-e2e\":\"perftest-a\",\"app\":\"iperf\"}\t{}"
    "\t0\t0\t"
    "0\t0\t0\t0\t0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\tegress-a\t172.18.0.3\tk8s-node-3\n";

// The same record with the aggregation elements (test::aggregation_fields()), as an
// aggregate-mode record will carry them.
const std::string aggregated_row =
    "1700000001\t1700000061\t1700000059\t1700000058\t3\t10.10.0.5\t10.10.1.7\t43513\t5201\t6\t"
    "1001\t1500000\t100\t150000\t900\t60000\t90\t6000\tiperf-client\tantrea-test\tk8s-node-1\t"
    "iperf-server\tantrea-test\tk8s-node-2\t10.96.0.10\t5201\tantrea-test/iperf:tcp\tallow-iperf\t"
    "antrea-test\trule1\t1\t2\t\t\t\t0\t0\tESTABLISHED\t2\t{\"antrea-e2e\":\"perftest-a\","
    "\"app\":\"iperf\"}\t{}\t20000\t800\t20001\t19999\t801\t799\t0b1f3a52-1c1e-4b9e-9a53-"
    "6c7d2a1e0f11\tegress-a\t172.18.0.3\tk8s-node-3\n";

std::vector<payload_ptr> known_batch() {
  auto aggregated = test::antrea_record(1);
  for (auto& f : test::aggregation_fields())
    aggregated.push_back(f);
  return {test::payload({test::antrea_record()}), test::payload({aggregated}, 257)};
}

class clickhouse : public ::testing::Test {
 protected:
  void SetUp() override {
    auto name = std::string{::testing::UnitTest::GetInstance()->current_test_info()->name()};
    dir_ = fa::test::scratch_dir("clickhouse_" + name);
  }
  std::string dir_;
};

TEST_F(clickhouse, every_column_arrives_with_its_value_in_each_format) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  // The printed schema creates the table on this server (18.16).
  create_flows(s);
  for (auto format : {clickhouse_format::row_binary, clickhouse_format::json_each_row}) {
    for (bool gzip : {true, false}) {
      s.must("TRUNCATE TABLE flows");
      auto o = options_for(s.http_port());
      o.format = format;
      o.gzip = gzip;
      clickhouse_writer w{o};
      ASSERT_EQ(w.prepare(), std::nullopt);
      auto r = w.write(known_batch(), false);
      ASSERT_EQ(r.outcome, write_outcome::ok) << r.reason << ": " << r.detail;
      EXPECT_EQ(r.rows, 2u);
      EXPECT_EQ(select_all(s, "flowStartSeconds"), known_row + aggregated_row)
          << to_string(format) << (gzip ? " gzip" : "");
    }
  }
  // The columns left to their DEFAULTs got them.
  EXPECT_EQ(s.must("SELECT min(toUInt32(timeInserted)) > 1600000000, max(trusted) FROM flows"),
            "1\t0\n");
}

TEST_F(clickhouse, a_batch_is_one_insert_of_all_its_rows) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  create_flows(s);
  std::vector<payload_ptr> batch;
  for (std::uint64_t p = 0; p < 3; ++p) {
    std::vector<std::vector<test::field>> records;
    for (std::uint64_t i = 0; i < 100; ++i)
      records.push_back(test::antrea_record(p * 100 + i));
    batch.push_back(test::payload(records));
  }
  clickhouse_writer w{options_for(s.http_port())};
  auto r = w.write(batch, false);
  ASSERT_EQ(r.outcome, write_outcome::ok) << r.detail;
  EXPECT_EQ(r.rows, 300u);
  EXPECT_EQ(s.must("SELECT count(), uniqExact(packetTotalCount), min(packetTotalCount), "
                   "max(packetTotalCount) FROM flows"),
            "300\t300\t1000\t1299\n");
  // One insert is one part of the MergeTree.
  EXPECT_EQ(s.must("SELECT count() FROM system.parts WHERE table = 'flows' AND active"), "1\n");
}

TEST_F(clickhouse, a_missing_column_is_rejected_with_the_servers_error) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  create_flows(s);
  // Theia's stock table has no egressNodeName (antrea-clickhouse-export.md 2.5).
  s.must("ALTER TABLE flows DROP COLUMN egressNodeName");
  for (auto format : {clickhouse_format::row_binary, clickhouse_format::json_each_row}) {
    auto o = options_for(s.http_port());
    o.format = format;
    clickhouse_writer w{o};
    auto r = w.write(known_batch(), false);
    EXPECT_EQ(r.outcome, write_outcome::rejected);
    EXPECT_EQ(r.reason, "rejected");
    EXPECT_NE(r.detail.find("Code: 16"), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("No such column egressNodeName"), std::string::npos) << r.detail;
  }
  EXPECT_EQ(count(s), "0\n");
}

TEST_F(clickhouse, a_missing_table_is_rejected_with_the_servers_error) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  clickhouse_writer w{options_for(s.http_port())};
  auto r = w.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::rejected);
  EXPECT_NE(r.detail.find("Code: 60"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("default.flows doesn't exist"), std::string::npos) << r.detail;
}

TEST_F(clickhouse, row_binary_refuses_a_table_whose_types_differ) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  create_flows(s);
  s.must("ALTER TABLE flows MODIFY COLUMN sourceTransportPort UInt32");
  clickhouse_writer w{options_for(s.http_port())};
  auto r = w.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::rejected);
  EXPECT_EQ(r.reason, "schema");
  EXPECT_NE(r.detail.find("sourceTransportPort is UInt32, expected UInt16"), std::string::npos)
      << r.detail;
  EXPECT_EQ(count(s), "0\n") << "nothing misread into the table";
  // JSONEachRow names its values: the server converts them.
  auto o = options_for(s.http_port());
  o.format = clickhouse_format::json_each_row;
  clickhouse_writer json{o};
  r = json.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::ok) << r.detail;
  EXPECT_EQ(select_all(s, "flowStartSeconds"), known_row + aggregated_row);
}

TEST_F(clickhouse, no_server_is_an_outage_retried) {
  clickhouse_writer w{options_for(fa::test::free_port())};
  auto r = w.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::retry);
  EXPECT_EQ(r.reason, "connect");
  EXPECT_NE(r.detail.find("connect"), std::string::npos) << r.detail;
}

TEST_F(clickhouse, credentials_from_the_password_file_and_a_fixed_file_resumes) {
  clickhouse_server::options with_user;
  with_user.users = {{"fa", "s3cret"}};
  clickhouse_server s{dir_ + "/server", with_user};
  ASSERT_TRUE(s.ok());
  create_flows(s);
  auto pw = dir_ + "/password";
  std::ofstream{pw} << "wrong\n";
  auto o = options_for(s.http_port());
  o.endpoint.user = "fa";
  o.endpoint.password_file = pw;
  clickhouse_writer w{o};
  ASSERT_EQ(w.prepare(), std::nullopt);
  auto r = w.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::retry);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_NE(r.detail.find("Wrong password for user fa"), std::string::npos) << r.detail;
  // The file is read again after an authentication failure (a rotated Secret).
  std::ofstream{pw, std::ios::trunc} << "s3cret\n";
  r = w.write(known_batch(), true);
  EXPECT_EQ(r.outcome, write_outcome::ok) << r.detail;
  EXPECT_EQ(count(s), "2\n");
  auto missing = options_for(s.http_port());
  missing.endpoint.password_file = dir_ + "/none";
  clickhouse_writer m{missing};
  EXPECT_EQ(m.prepare(), "cannot read password_file " + dir_ + "/none");
}

/// A TCP proxy to the server that, on its first connection, forwards the request but
/// drops the server's answer and closes: the client saw no response to a request the
/// server executed.
class answer_dropping_proxy {
 public:
  explicit answer_dropping_proxy(std::uint16_t upstream)
      : upstream_(upstream) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listener_, 8);
    thread_ = std::thread{[this] { run(); }};
  }
  ~answer_dropping_proxy() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  int dropped() const { return dropped_; }

 private:
  void run() {
    for (int n = 0; !stop_; ++n) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(upstream_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
        pump(client, server, n == 0);
      ::close(server);
      ::close(client);
    }
  }
  /// Copies both ways until either side closes; with `drop_answer`, the first octets
  /// from the server end the connection instead of reaching the client.
  void pump(int client, int server, bool drop_answer) {
    char buf[65536];
    while (!stop_) {
      pollfd fds[2]{{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0)
        continue;
      if (fds[0].revents) {
        auto n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0 || ::send(server, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n)
          return;
      }
      if (fds[1].revents) {
        auto n = ::recv(server, buf, sizeof buf, 0);
        if (n <= 0)
          return;
        if (drop_answer) {
          ++dropped_;
          return;
        }
        if (::send(client, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n)
          return;
      }
    }
  }
  std::uint16_t upstream_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> dropped_{0};
  std::thread thread_;
};

// What the README claims: a batch whose answer was lost is sent again (the same bytes),
// and since MergeTree keeps no insert log, the server then holds it twice. Failures
// before the request went out whole, or answered with an error, never insert.
TEST_F(clickhouse, a_lost_answer_is_retried_and_the_batch_may_arrive_twice) {
  clickhouse_server s{dir_ + "/server"};
  ASSERT_TRUE(s.ok());
  create_flows(s);
  answer_dropping_proxy proxy{s.http_port()};
  auto o = options_for(proxy.port());
  o.format =
      clickhouse_format::json_each_row; // no type check first: the insert is the first request
  clickhouse_writer w{o};
  auto r = w.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::retry);
  EXPECT_EQ(r.reason, "no_response") << r.detail;
  EXPECT_EQ(proxy.dropped(), 1);
  r = w.write(known_batch(), true);
  EXPECT_EQ(r.outcome, write_outcome::ok) << r.detail;
  EXPECT_EQ(select_all(s, "flowStartSeconds"),
            known_row + known_row + aggregated_row + aggregated_row)
      << "inserted by the first request and again by the retry";
}

TEST_F(clickhouse, over_https_with_a_ca_a_server_name_and_a_client_certificate) {
  std::filesystem::create_directories(dir_ + "/pki");
  fa::test::tls_pki pki{dir_ + "/pki"};
  auto server = pki.issue("ch-server", "clickhouse.test", {"DNS:clickhouse.test"},
                          fa::test::tls_pki::usage::server);
  auto client = pki.client("agent-a");
  clickhouse_server::options tls;
  tls.tls_cert = server.cert;
  tls.tls_key = server.key;
  tls.tls_client_ca = pki.ca();
  clickhouse_server s{dir_ + "/server", tls};
  ASSERT_TRUE(s.ok()) << s.log();
  create_flows(s);
  auto o = options_for(s.https_port());
  o.endpoint.tls = true;
  o.endpoint.tls_ca = pki.ca();
  o.endpoint.tls_server_name = "clickhouse.test"; // the certificate does not name 127.0.0.1
  o.endpoint.tls_cert = client.cert;
  o.endpoint.tls_key = client.key;
  {
    clickhouse_writer w{o};
    auto r = w.write(known_batch(), false);
    ASSERT_EQ(r.outcome, write_outcome::ok) << r.reason << ": " << r.detail << "\n" << s.log();
  }
  EXPECT_EQ(select_all(s, "flowStartSeconds"), known_row + aggregated_row);
  // Another CA does not verify the server: an outage, retried, nothing inserted.
  auto untrusted = o;
  untrusted.endpoint.tls_ca = pki.other_ca();
  clickhouse_writer bad{untrusted};
  auto r = bad.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::retry);
  EXPECT_EQ(r.reason, "connect") << r.detail;
  // Without the server name the certificate does not match 127.0.0.1.
  auto by_ip = o;
  by_ip.endpoint.tls_server_name.clear();
  clickhouse_writer ip{by_ip};
  r = ip.write(known_batch(), false);
  EXPECT_EQ(r.outcome, write_outcome::retry) << r.detail;
  EXPECT_EQ(count(s), "2\n");
}

} // namespace
