#pragma once

// A throwaway PKI for TLS tests, made with the `openssl` command at test time in a
// scratch directory: a CA, a server certificate for 127.0.0.1, ::1 and localhost,
// client certificates with different names, and a second, unrelated CA.

#include <string>
#include <vector>

namespace fa::test {

struct cert_files {
  std::string cert; ///< PEM certificate
  std::string key;  ///< PEM private key (unencrypted)
};

class tls_pki {
 public:
  /// Creates, under `dir`: the CA "test-ca" (`ca()`), the CA "other-ca" (`other_ca()`),
  /// the server certificate "server" (CN localhost; SANs localhost, 127.0.0.1, ::1),
  /// and the client certificates "agent-a" and "agent-b" (CN = name, DNS SAN
  /// name.nodes.test) from test-ca and "rogue" (CN agent-a!) from other-ca.
  /// Throws std::runtime_error with openssl's output when a step fails.
  explicit tls_pki(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string ca() const { return dir_ + "/test-ca.crt"; }
  std::string other_ca() const { return dir_ + "/other-ca.crt"; }
  cert_files server() const { return files("server"); }
  cert_files client(const std::string& name) const { return files(name); }

  enum class usage { server, client };
  /// Issues one more certificate `name` from CA `signer` ("test-ca" or "other-ca").
  /// `sans` are subjectAltName entries ("DNS:x", "IP:127.0.0.1").
  cert_files issue(const std::string& name, const std::string& cn,
                   const std::vector<std::string>& sans, usage u,
                   const std::string& signer = "test-ca");

  cert_files files(const std::string& name) const {
    return {dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  }

 private:
  void make_ca(const std::string& name);
  std::string dir_;
};

} // namespace fa::test
