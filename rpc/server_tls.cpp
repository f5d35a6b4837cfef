#include "rpc/server_tls.hpp"

#include <fstream>
#include <optional>
#include <sstream>

namespace fa::rpc {

namespace {

std::optional<std::string> read_pem(const std::string& path, std::string& out) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return "cannot read " + path;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  if (out.find("-----BEGIN") == std::string::npos)
    return path + " holds no PEM data";
  return std::nullopt;
}

} // namespace

std::variant<std::shared_ptr<grpc::ServerCredentials>, std::string>
make_server_credentials(const server_tls_options& o) {
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (auto err = read_pem(o.cert, pair.cert_chain))
    return o.cert_key + ": " + *err;
  if (auto err = read_pem(o.key, pair.private_key))
    return o.key_key + ": " + *err;
  grpc::SslServerCredentialsOptions so{GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE};
  so.pem_key_cert_pairs.push_back(std::move(pair));
  if (!o.client_ca.empty()) {
    // antrea-grpc-transport.md 3: the aggregator requires a client certificate signed
    // by its CA (mTLS).
    if (auto err = read_pem(o.client_ca, so.pem_root_certs))
      return o.client_ca_key + ": " + *err;
    so.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  auto creds = grpc::SslServerCredentials(so);
  if (!creds)
    return o.cert_key + ": gRPC refused the certificate or key";
  return creds;
}

} // namespace fa::rpc
