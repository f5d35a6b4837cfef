#pragma once

// TLS for the flow stream server (antrea-grpc-transport.md 3), which libgrpc serves: the
// server certificate and key, and an optional client CA that makes client certificates
// required. (The export listener reads gRPC itself and uses net/tls_context.hpp.)

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

} // namespace fa::rpc
