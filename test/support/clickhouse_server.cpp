#include "test/support/clickhouse_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace fa::test {

namespace {

/// GET /ping answers "Ok." once the server serves HTTP.
bool pings(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET /ping HTTP/1.0\r\n\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      std::string got;
      char buf[512];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
        got.append(buf, static_cast<std::size_t>(n));
      ok = got.find("Ok.") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

} // namespace

namespace {

/// A TCP socket bound to an ephemeral loopback port; returns the port.
std::uint16_t bind_loopback(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

} // namespace

std::uint16_t free_port() {
  int fd = -1;
  auto port = bind_loopback(fd);
  ::close(fd);
  return port;
}

refusing_port::refusing_port()
    : port_(bind_loopback(fd_)) {}

refusing_port::~refusing_port() {
  if (fd_ >= 0)
    ::close(fd_);
}

clickhouse_server::clickhouse_server(const std::string& dir, options o)
    : dir_(dir)
    , opt_(std::move(o)) {
  std::filesystem::create_directories(dir_);
  // A port taken between choosing and binding (ctest -j): try other ports.
  for (int attempt = 0; attempt < 3 && !up_; ++attempt) {
    http_port_ = free_port();
    tcp_port_ = free_port();
    https_port_ = opt_.tls_cert.empty() ? 0 : free_port();
    std::ofstream users{dir_ + "/users.xml", std::ios::trunc};
    users << "<?xml version=\"1.0\"?>\n<yandex>\n  <profiles><default></default></profiles>\n"
             "  <quotas><default></default></quotas>\n  <users>\n"
             "    <default><password></password><networks><ip>::/0</ip></networks>"
             "<profile>default</profile><quota>default</quota></default>\n";
    for (const auto& u : opt_.users)
      users << "    <" << u.name << "><password>" << u.password
            << "</password><networks><ip>::/0</ip></networks><profile>default</profile>"
               "<quota>default</quota></"
            << u.name << ">\n";
    users << "  </users>\n</yandex>\n";
    users.close();
    std::ofstream cfg{dir_ + "/config.xml", std::ios::trunc};
    cfg << "<?xml version=\"1.0\"?>\n<yandex>\n"
           "  <logger><level>warning</level><console>1</console></logger>\n"
           "  <listen_host>127.0.0.1</listen_host>\n"
           "  <http_port>"
        << http_port_ << "</http_port>\n  <tcp_port>" << tcp_port_ << "</tcp_port>\n";
    if (https_port_ != 0) {
      cfg << "  <https_port>" << https_port_ << "</https_port>\n"
          << "  <openSSL><server><certificateFile>" << opt_.tls_cert
          << "</certificateFile><privateKeyFile>" << opt_.tls_key << "</privateKeyFile>"
          << (opt_.tls_client_ca.empty()
                  ? "<verificationMode>none</verificationMode>"
                  : "<caConfig>" + opt_.tls_client_ca +
                        "</caConfig><verificationMode>strict</verificationMode>")
          << "<loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions>"
             "<disableProtocols>sslv2,sslv3</disableProtocols>"
             "<preferServerCiphers>true</preferServerCiphers></server></openSSL>\n";
    }
    cfg << "  <path>" << dir_ << "/data/</path>\n  <tmp_path>" << dir_ << "/tmp/</tmp_path>\n"
        << "  <user_files_path>" << dir_ << "/user_files/</user_files_path>\n"
        << "  <format_schema_path>" << dir_ << "/format_schemas/</format_schema_path>\n"
        << "  <users_config>" << dir_ << "/users.xml</users_config>\n"
        << "  <default_profile>default</default_profile>\n"
           "  <default_database>default</default_database>\n"
           "  <timezone>UTC</timezone>\n  <mark_cache_size>16777216</mark_cache_size>\n"
           "  <mlock_executable>false</mlock_executable>\n</yandex>\n";
    cfg.close();
    start();
  }
  EXPECT_TRUE(up_) << "clickhouse-server did not start: " << log();
}

clickhouse_server::~clickhouse_server() {
  stop();
}

bool clickhouse_server::start() {
  proc_ = std::make_unique<process>(
      std::vector<std::string>{"clickhouse-server", "--config-file=" + dir_ + "/config.xml"},
      dir_ + "/server.out", dir_ + "/server.err");
  up_ = wait_up();
  return up_;
}

bool clickhouse_server::wait_up() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  while (std::chrono::steady_clock::now() < deadline) {
    if (!proc_->running())
      return false;
    if (pings(http_port_))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return false;
}

void clickhouse_server::stop() {
  if (!proc_)
    return;
  proc_->signal(SIGTERM);
  if (!proc_->wait(std::chrono::seconds{30})) {
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds{10});
  }
  proc_.reset();
  up_ = false;
}

void clickhouse_server::kill() {
  if (!proc_)
    return;
  proc_->signal(SIGKILL);
  proc_->wait(std::chrono::seconds{30});
  proc_.reset();
  up_ = false;
}

std::string clickhouse_server::log() const {
  return read_file(dir_ + "/server.err") + read_file(dir_ + "/server.out");
}

std::string clickhouse_server::query(const std::string& sql, int* status) const {
  std::string out;
  int rc = run_command({"clickhouse-client", "--host", "127.0.0.1", "--port",
                        std::to_string(tcp_port_), "--query", sql},
                       out, std::chrono::seconds{60});
  if (status)
    *status = rc;
  return out;
}

std::string clickhouse_server::must(const std::string& sql) const {
  int rc = 0;
  auto out = query(sql, &rc);
  EXPECT_EQ(rc, 0) << sql << "\n" << out;
  return out;
}

} // namespace fa::test
