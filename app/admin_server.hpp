#pragma once

// The admin HTTP endpoint (civetweb): a small router of GET paths to handlers, with an
// optional bearer token. It knows nothing of actors; app/admin_api.cpp supplies the
// handlers.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

class CivetServer;

namespace fa::app {

struct http_request {
  std::string path;
  std::string query; ///< after '?', still URL-encoded
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using http_handler = std::function<http_response(const http_request&)>;

struct admin_server_options {
  std::string listen; ///< "127.0.0.1:10348", "[::1]:0"
  /// Non-empty: every path but `open_paths` needs "Authorization: Bearer <token>".
  std::string token;
  /// Paths served without the token (the probes: they reveal nothing).
  std::vector<std::string> open_paths{"/healthz", "/readyz"};
  /// Both set: serve HTTPS only (TLS 1.2 or later) with this PEM certificate (chain) and
  /// its PEM private key; both "": plain HTTP.
  std::string tls_cert;
  std::string tls_key;
};

class admin_server {
 public:
  /// Starts serving; throws std::runtime_error saying why it cannot (port in use, a TLS
  /// file unreadable or not a PEM certificate / key, key not matching the certificate).
  admin_server(admin_server_options opts, std::map<std::string, http_handler> routes);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// The bound port (port 0 resolved).
  std::uint16_t port() const;

  /// Replaces the token (hot reload); "" turns authentication off.
  void set_token(std::string token);

  class dispatcher;
  class tls_front;

 private:
  std::unique_ptr<dispatcher> dispatcher_;
  std::unique_ptr<CivetServer> server_;
  std::unique_ptr<tls_front> front_; ///< set: HTTPS ends here (see admin_server.cpp)
};

/// Reads a bearer token file: its content without surrounding whitespace. Returns why
/// when it cannot be read or holds no token.
std::optional<std::string> read_token_file(const std::string& path, std::string& token);

/// The value of `key` in an URL-encoded query string, decoded; "" when absent.
std::string query_param(std::string_view query, std::string_view key);

/// Compares in time independent of where the inputs differ (no early exit), so the
/// token cannot be guessed byte by byte from response times.
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace fa::app
