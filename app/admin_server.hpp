#pragma once

// The admin HTTP endpoint: a small router of GET paths to handlers (civetweb), with an
// optional bearer token, behind a front that keeps idle and slow clients away from
// civetweb's workers (app/admin_front.hpp). It knows nothing of actors;
// app/admin_api.cpp supplies the handlers.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

class CivetServer;

namespace fa::app {

class admin_front;

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
  /// Called (on the front's thread) for each connection closed before it was served,
  /// with the reason (app/admin_front.hpp): counted and logged by the caller.
  std::function<void(std::string_view reason)> on_closed;
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

 private:
  std::unique_ptr<dispatcher> dispatcher_;
  std::unique_ptr<CivetServer> server_;
  std::unique_ptr<admin_front> front_; ///< the port clients reach (app/admin_front.hpp)
};

/// Reads a bearer token file: its content without surrounding whitespace. Returns why
/// when it cannot be read or holds no token.
std::optional<std::string> read_token_file(const std::string& path, std::string& token);

/// The credentials of an Authorization header value with the Bearer scheme, in any case
/// and after one or more spaces (RFC 7235 2.1, RFC 6750 2.1); nullopt for another scheme.
std::optional<std::string_view> bearer_credentials(std::string_view header);

/// The value of `key` in an URL-encoded query string, decoded; "" when absent.
std::string query_param(std::string_view query, std::string_view key);

/// Compares in time independent of where the inputs differ (no early exit), so the
/// token cannot be guessed byte by byte from response times.
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace fa::app
