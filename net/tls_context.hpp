#pragma once

// TLS for IPFIX (RFC 7011 11): OpenSSL contexts built from PEM files, the client-name
// allow-list, and the fixed set of reasons a handshake fails with (metric labels).
//
// RFC 7011 11.1 asks for TLS 1.2 or newer (the config may raise it to 1.3); 11.3 and
// 11.4: both ends are authenticated with certificates, and a collector may restrict
// exporters to a list of names.

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fa::net {

using ssl_context_ptr = std::shared_ptr<asio::ssl::context>;

/// What a server context is built from (`[collector.tls]`). The `*_key` members name the
/// config key so that an error says where the file came from.
struct tls_server_options {
  std::string cert;
  std::string key;
  std::string client_ca;                  ///< set => client certificates required
  std::vector<std::string> allowed_names; ///< empty = any name the CA signed
  std::string min_version = "1.2";        ///< "1.2" or "1.3"
  std::string cert_key = "collector.tls.cert";
  std::string key_key = "collector.tls.key";
  std::string client_ca_key = "collector.tls.client_ca";
};

/// What a client context is built from (a `[[destination]]` with ipfix+tls).
struct tls_client_options {
  std::string ca;   ///< "" = the system's CAs
  std::string cert; ///< client certificate for mutual TLS; "" = none
  std::string key;
  std::string min_version = "1.2";
  std::string ca_key = "tls_ca"; ///< config key names, for errors
  std::string cert_key = "tls_cert";
  std::string key_key = "tls_key";
};

/// The server context, or an error naming the config key, the file and OpenSSL's reason.
std::variant<ssl_context_ptr, std::string> make_server_context(const tls_server_options& o);

/// The client context (peer verification always on), or an error like the server's.
std::variant<ssl_context_ptr, std::string> make_client_context(const tls_client_options& o);

/// The names a certificate answers to: its subject CNs and DNS subjectAltNames.
std::vector<std::string> certificate_names(X509* cert);

/// RFC 7011 11.4: true when a subject CN or a DNS subjectAltName of `cert` is one of
/// `allowed` (DNS names compare case-insensitively); an empty list allows any name.
bool name_allowed(X509* cert, const std::vector<std::string>& allowed);

/// Makes `ssl` verify the peer as `server_name` (a host name or an IP address) and, for a
/// host name, send it as SNI (RFC 6066 3 forbids IP literals there).
std::optional<std::string> set_server_name(SSL* ssl, const std::string& server_name);

/// Why a handshake failed, as a metric label from a fixed set: "timeout", "peer_closed",
/// "not_tls", "protocol_version", "no_certificate", "untrusted_certificate",
/// "certificate_expired", "name_not_allowed", "name_mismatch",
/// "peer_rejected_certificate", "no_shared_cipher", "no_application_protocol" (RFC 7301
/// 3.2: a grpcs:// client that does not offer "h2"), "handshake_error".
std::string_view handshake_failure_reason(const asio::error_code& ec, SSL* ssl);

/// A human-readable account of a failed handshake: OpenSSL's reason and, when the
/// certificate check failed, what the check said.
std::string handshake_failure_detail(const asio::error_code& ec, SSL* ssl);

/// The server context of the tls:// listeners. A reload builds a whole new context from
/// the same files; new handshakes take it, established sessions keep the one they were
/// made with (each holds a reference), and a reload that fails leaves the old one.
class tls_server_context {
 public:
  static std::variant<std::shared_ptr<tls_server_context>, std::string>
  make(tls_server_options options);

  /// The context for the next handshake.
  ssl_context_ptr current() const;

  /// Re-reads the files; on an error returns it and keeps the current context.
  std::optional<std::string> reload();

  const tls_server_options& options() const { return options_; }

 private:
  tls_server_context(tls_server_options options, ssl_context_ptr ctx)
      : options_(std::move(options))
      , ctx_(std::move(ctx)) {}

  tls_server_options options_;
  mutable std::mutex mtx_; ///< taken once per handshake and per reload, never per record
  ssl_context_ptr ctx_;
};

using tls_server_context_ptr = std::shared_ptr<tls_server_context>;

} // namespace fa::net
