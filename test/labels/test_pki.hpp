#pragma once

// A throwaway PKI for TLS tests, made with the openssl CLI at test time.

#include <string>

namespace fa::test {

/// Files of a test PKI: a CA, a server certificate for 127.0.0.1, ::1 and localhost
/// signed by it, and a client certificate.
struct test_pki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

/// Generates the PKI in `dir` (fails the calling test on errors; returns empty paths).
test_pki make_test_pki(const std::string& dir);

} // namespace fa::test
