#pragma once

// TLS for the gRPC servers (antrea-grpc-transport.md 3): the server certificate and key,
// and for the export listener an optional client CA that makes client certificates
// required (Antrea's aggregator always requires them) and an optional name allow-list,
// the same `[collector.tls]` rules as the IPFIX tls:// listener.

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace fa::rpc {

struct server_tls_options {
  std::string cert;      ///< PEM certificate chain
  std::string key;       ///< PEM private key
  std::string client_ca; ///< "" = no client certificate asked for
  std::string cert_key = "cert", key_key = "key", client_ca_key = "client_ca"; ///< for errors
};

/// gRPC's TLS server credentials (TLS 1.2 and 1.3, ALPN h2), or what is wrong with a file.
std::variant<std::shared_ptr<grpc::ServerCredentials>, std::string>
make_server_credentials(const server_tls_options& o);

/// RFC 7011 11.4 as the tls:// listener applies it: the verified client certificate's
/// common name or a DNS subject alternative name is in `allowed` (case-insensitive); an
/// empty list allows any certificate the CA signed.
bool peer_name_allowed(const grpc::AuthContext& auth, const std::vector<std::string>& allowed);

/// The names of the verified client certificate, comma-separated (for logs).
std::string peer_names(const grpc::AuthContext& auth);

} // namespace fa::rpc
