#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fa::net {

namespace {

/// OpenSSL's error queue, oldest first, as reason texts; empties the queue.
std::string openssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    if (reason == nullptr) {
      ERR_error_string_n(e, buf, sizeof buf);
      reason = buf;
    }
    if (!out.empty())
      out += "; ";
    out += reason;
  }
  return out.empty() ? std::string{"unknown OpenSSL error"} : out;
}

/// "collector.tls.cert (/etc/x.crt)": where a value came from, for errors.
std::string where(const std::string& key, const std::string& path) {
  return key + " (" + path + ")";
}

/// An unreadable file is reported with the system's reason rather than OpenSSL's
/// "system lib" text.
std::optional<std::string> unreadable(const std::string& key, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return where(key, path) + ": cannot open: " + std::strerror(errno);
  std::fclose(f);
  return std::nullopt;
}

std::optional<std::string> set_min_version(SSL_CTX* c, const std::string& key,
                                           const std::string& v) {
  // RFC 7011 11.1: TLS 1.2 or a later version.
  int proto = v == "1.3" ? TLS1_3_VERSION : v == "1.2" ? TLS1_2_VERSION : 0;
  if (proto == 0)
    return key + " = \"" + v + "\": must be \"1.2\" or \"1.3\"";
  if (SSL_CTX_set_min_proto_version(c, proto) != 1)
    return key + ": " + openssl_errors();
  return std::nullopt;
}

std::optional<std::string> load_chain_and_key(SSL_CTX* c, const std::string& cert_key,
                                              const std::string& cert, const std::string& key_key,
                                              const std::string& key) {
  if (auto err = unreadable(cert_key, cert))
    return err;
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1)
    return where(cert_key, cert) + ": not a usable PEM certificate chain: " + openssl_errors();
  if (auto err = unreadable(key_key, key))
    return err;
  if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto e = ERR_peek_last_error();
    bool mismatch =
        ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
    if (!mismatch)
      return where(key_key, key) + ": not a usable PEM private key: " + openssl_errors();
  }
  if (ERR_peek_error() != 0 || SSL_CTX_check_private_key(c) != 1)
    return where(key_key, key) + " does not belong to the certificate " + where(cert_key, cert) +
           ": " + openssl_errors();
  return std::nullopt;
}

std::optional<std::string> load_ca(SSL_CTX* c, const std::string& key, const std::string& path) {
  if (auto err = unreadable(key, path))
    return err;
  if (SSL_CTX_load_verify_locations(c, path.c_str(), nullptr) != 1)
    return where(key, path) + ": no usable PEM CA certificate: " + openssl_errors();
  return std::nullopt;
}

/// Options both ends share: no compression (CRIME), no renegotiation (a reader that
/// never writes cannot answer one, and nothing here needs it).
void harden(SSL_CTX* c) {
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
      return false;
  }
  return true;
}

} // namespace

std::variant<ssl_context_ptr, std::string> make_server_context(const tls_server_options& o) {
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  harden(c);
  if (auto err = set_min_version(c, "collector.tls.min_version", o.min_version))
    return *err;
  if (auto err = load_chain_and_key(c, o.cert_key, o.cert, o.key_key, o.key))
    return *err;
  if (o.client_ca.empty()) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  // RFC 7011 11.3: the exporter (the TLS client) is authenticated by its certificate.
  if (auto err = load_ca(c, o.client_ca_key, o.client_ca))
    return *err;
  // The CA names in the CertificateRequest help a client pick the right certificate.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca.c_str()))
    SSL_CTX_set_client_CA_list(c, names);
  ERR_clear_error();
  // TLS 1.2 session resumption with verified clients needs a session id context.
  static constexpr unsigned char sid[] = "flow-aggregator";
  SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  if (!o.allowed_names.empty()) {
    // RFC 7011 11.4: only the listed exporters. Checked on the leaf once the chain is
    // verified; a refusal fails the handshake with an alert, and the verify result
    // X509_V_ERR_APPLICATION_VERIFICATION lets the failure be counted as such.
    ctx->set_verify_callback(
        [allowed = o.allowed_names](bool preverified, asio::ssl::verify_context& vc) {
          X509_STORE_CTX* sc = vc.native_handle();
          if (!preverified || X509_STORE_CTX_get_error_depth(sc) != 0)
            return preverified;
          if (name_allowed(X509_STORE_CTX_get_current_cert(sc), allowed))
            return true;
          X509_STORE_CTX_set_error(sc, X509_V_ERR_APPLICATION_VERIFICATION);
          return false;
        });
  }
  return ctx;
}

std::variant<ssl_context_ptr, std::string> make_client_context(const tls_client_options& o) {
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  harden(c);
  if (auto err = set_min_version(c, "tls_min_version", o.min_version))
    return *err;
  if (o.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(c) != 1)
      return o.ca_key + " is empty and the system CAs cannot be loaded: " + openssl_errors();
  } else if (auto err = load_ca(c, o.ca_key, o.ca)) {
    return *err;
  }
  if (!o.cert.empty())
    if (auto err = load_chain_and_key(c, o.cert_key, o.cert, o.key_key, o.key))
      return *err;
  // RFC 7011 11.3: the collector is always authenticated.
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  if (cert == nullptr)
    return names;
  // A name with an embedded NUL is a forgery attempt, never a match.
  auto add = [&names](const unsigned char* p, int n) {
    if (n >= 0 && std::memchr(p, 0, static_cast<std::size_t>(n)) == nullptr)
      names.emplace_back(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  };
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (n >= 0) {
      add(utf8, n);
      OPENSSL_free(utf8);
    }
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DNS)
      add(ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

bool name_allowed(X509* cert, const std::vector<std::string>& allowed) {
  if (allowed.empty())
    return true;
  for (auto& name : certificate_names(cert))
    for (auto& a : allowed)
      if (equal_ignoring_case(name, a))
        return true;
  return false;
}

std::optional<std::string> set_server_name(SSL* ssl, const std::string& server_name) {
  asio::error_code ec;
  asio::ip::make_address(server_name, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1)
      return "tls_server_name \"" + server_name + "\": " + openssl_errors();
    return std::nullopt;
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, server_name.c_str()) != 1 ||
      SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1)
    return "tls_server_name \"" + server_name + "\": " + openssl_errors();
  return std::nullopt;
}

std::string_view handshake_failure_reason(const asio::error_code& ec, SSL* ssl) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
    return "peer_closed";
  if (ec.category() != asio::error::get_ssl_category())
    return "handshake_error";
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
  case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    return "no_certificate";
  case SSL_R_CERTIFICATE_VERIFY_FAILED:
    switch (ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK) {
    case X509_V_ERR_APPLICATION_VERIFICATION:
      return "name_not_allowed";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "name_mismatch";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate_expired";
    default:
      return "untrusted_certificate";
    }
  case SSL_R_UNSUPPORTED_PROTOCOL:
  case SSL_R_NO_PROTOCOLS_AVAILABLE:
  case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
  case SSL_R_VERSION_TOO_LOW:
  case SSL_R_WRONG_SSL_VERSION:
    return "protocol_version";
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_UNKNOWN_PROTOCOL:
  case SSL_R_HTTP_REQUEST:
  case SSL_R_HTTPS_PROXY_REQUEST:
  case SSL_R_PACKET_LENGTH_TOO_LONG:
  case SSL_R_RECORD_LENGTH_MISMATCH:
    return "not_tls";
  case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
  case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
  case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
  case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
  case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    return "peer_rejected_certificate";
  case SSL_R_NO_SHARED_CIPHER:
    return "no_shared_cipher";
  case SSL_R_NO_APPLICATION_PROTOCOL:
    return "no_application_protocol";
  default:
    return "handshake_error";
  }
}

std::string handshake_failure_detail(const asio::error_code& ec, SSL* ssl) {
  std::string out = ec.message();
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
      ssl != nullptr) {
    auto v = SSL_get_verify_result(ssl);
    out += ": ";
    out += v == X509_V_ERR_APPLICATION_VERIFICATION
               ? "certificate name not in collector.tls.allowed_names"
               : X509_verify_cert_error_string(v);
  }
  return out;
}

std::variant<std::shared_ptr<tls_server_context>, std::string>
tls_server_context::make(tls_server_options options) {
  auto made = make_server_context(options);
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  return std::shared_ptr<tls_server_context>(
      new tls_server_context(std::move(options), std::get<ssl_context_ptr>(std::move(made))));
}

ssl_context_ptr tls_server_context::current() const {
  std::lock_guard guard{mtx_};
  return ctx_;
}

std::optional<std::string> tls_server_context::reload() {
  auto made = make_server_context(options_);
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  std::lock_guard guard{mtx_};
  ctx_ = std::get<ssl_context_ptr>(std::move(made));
  return std::nullopt;
}

} // namespace fa::net
