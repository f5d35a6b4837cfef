#pragma once

// A real clickhouse-server (Debian's 18.16) for one test: its own directory, free
// loopback ports and a minimal config written here; stopped at the end, so nothing is
// left running. Queried back with clickhouse-client, a tool we did not write.

#include "test/support/process.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fa::test {

class clickhouse_server {
 public:
  struct user {
    std::string name;
    std::string password;
  };
  struct options {
    std::vector<user> users; ///< besides `default` (no password)
    std::string tls_cert;    ///< PEM; set (with tls_key) = an HTTPS port too
    std::string tls_key;
    std::string tls_client_ca; ///< with TLS: client certificates required, verified by it
  };

  /// Starts the server on `dir` (created; its data lives there) and waits until it
  /// answers (bounded). `ok()` says whether it did.
  explicit clickhouse_server(const std::string& dir, options o = {});
  ~clickhouse_server(); ///< stops the server
  clickhouse_server(const clickhouse_server&) = delete;
  clickhouse_server& operator=(const clickhouse_server&) = delete;

  bool ok() const { return up_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }
  std::uint16_t tcp_port() const { return tcp_port_; }
  /// The server's log (stderr; warnings and errors).
  std::string log() const;

  /// Runs `sql` with clickhouse-client; returns its output (stdout and stderr) and sets
  /// `status` to the exit code.
  std::string query(const std::string& sql, int* status = nullptr) const;
  /// Like `query`, failing the test when the client does.
  std::string must(const std::string& sql) const;

  /// SIGTERM, and waits for the exit (bounded). The server's graceful stop keeps
  /// serving open keep-alive connections while requests come in on them.
  void stop();
  /// SIGKILL: the server is gone at once, a request in progress with it.
  void kill();
  /// Starts it again on the same ports and data; true when it answers.
  bool start();

 private:
  bool wait_up();

  std::string dir_;
  options opt_;
  std::uint16_t http_port_ = 0, https_port_ = 0, tcp_port_ = 0;
  std::unique_ptr<process> proc_;
  bool up_ = false;
};

/// A loopback TCP port that was free a moment ago.
std::uint16_t free_port();

/// A loopback TCP port held bound, not listening, while this lives: no other test can
/// take it (as one may take a free_port() under ctest -j), and every connection to it is
/// refused, as to a server that is down.
class refusing_port {
 public:
  refusing_port();
  ~refusing_port();
  refusing_port(const refusing_port&) = delete;
  refusing_port& operator=(const refusing_port&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

} // namespace fa::test
