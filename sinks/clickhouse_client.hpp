#pragma once

// ClickHouse's HTTP interface through libcurl (antrea-clickhouse-export.md 4.4): POST
// with the statement in `query=` and the data in the body, the database as a URL
// parameter, the user in X-ClickHouse-User / X-ClickHouse-Key (18.16 has both), TLS with
// a CA, a server name and an optional client certificate. Blocking; one request at a
// time; the connection is kept between requests.
//
// What a failure means for the data (the insert is one block, so all or nothing):
// - `connect`: no connection, or the request was not sent whole (the body has a
//   Content-Length, or is chunked and lacks its last chunk, so the server never inserts
//   a short one): nothing was inserted.
// - `no_response`: the request went out whole but no answer came (a reset, a timeout):
//   the server may have inserted it. Sending it again may insert it twice.
// - `server`, `auth`: the server answered with an error: nothing was inserted.
// - `rejected`: the server refused the content (unknown table or column, bad data).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fa::sinks {

struct clickhouse_endpoint {
  bool tls = false;
  std::string host;
  std::uint16_t port = 8123;
  std::string database = "default";
  std::string user;            ///< "" = the server's default user, no credentials sent
  std::string password_file;   ///< "" = no password
  std::string tls_ca;          ///< "" = the system's CAs
  std::string tls_cert;        ///< client certificate; "" = none
  std::string tls_key;         ///< its key
  std::string tls_server_name; ///< verified and sent as SNI; "" = `host`
  std::string tls_min_version = "1.2";
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{60000};
};

enum class request_outcome : std::uint8_t { ok, transient, rejected };

struct clickhouse_response {
  request_outcome outcome = request_outcome::ok;
  /// Failure metric label: connect, no_response, server, auth, rejected, stopped.
  std::string reason;
  std::string detail; ///< ClickHouse's error text, or libcurl's
  long status = 0;    ///< HTTP status; 0 = no response
  std::string body;   ///< the response (a query's result)
};

/// The failure reasons of `clickhouse_response::reason`, for metrics.
std::span<const std::string_view> clickhouse_failure_reasons();

/// How a ClickHouse error answer is handled, from its `Code: N` (ClickHouse's
/// ErrorCodes) or else its HTTP status: content errors are `rejected`, credential errors
/// `auth`, everything else (memory, too many parts, timeouts, shutting down) transient.
request_outcome classify_error(long status, std::string_view body, std::string& reason);

class clickhouse_client {
 public:
  explicit clickhouse_client(clickhouse_endpoint e);
  ~clickhouse_client();
  clickhouse_client(const clickhouse_client&) = delete;
  clickhouse_client& operator=(const clickhouse_client&) = delete;

  /// Reads the password file (trailing newlines dropped); the error when it cannot.
  std::optional<std::string> load_password();

  /// POSTs `body` as the data of `statement` (an INSERT), gzipped on the wire with
  /// `gzip` (the body is then already compressed).
  clickhouse_response insert(std::string_view statement, std::string_view body, bool gzip);

  /// Fills `out` with up to `max` octets of a body, returns how many; 0 at its end.
  using body_reader = std::function<std::size_t(char* out, std::size_t max)>;

  /// POSTs the body `read` produces while it is sent (chunked: its length is known only
  /// at its end), so that a large insert is never held whole in memory, and what is
  /// sent is still in the cache when libcurl copies it.
  clickhouse_response insert(std::string_view statement, const body_reader& read);

  /// Runs `sql` (a SELECT; its text in the body) and returns its output.
  clickhouse_response query(std::string_view sql);

  /// Makes a request in progress on another thread fail soon with `stopped`.
  void cancel() { cancelled_ = true; }

  /// The base URL requests go to ("http://127.0.0.1:8123/"), for logs.
  const std::string& base_url() const { return base_; }

 private:
  /// One request: the body is `body`, or what `read` produces when it is not null.
  clickhouse_response perform(const std::string& url, std::string_view body, bool gzip,
                              const body_reader* read = nullptr);
  std::string insert_url(std::string_view statement);

  clickhouse_endpoint e_;
  std::string base_;
  std::string connect_to_; ///< CURLOPT_CONNECT_TO when the server name is not the host
  std::string password_;
  void* curl_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

} // namespace fa::sinks
