#include "test/support/tls_pki.hpp"

#include "test/support/process.hpp"

#include <fstream>
#include <stdexcept>

namespace fa::test {

namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int rc = run_command(argv, out, std::chrono::seconds{60});
  if (rc != 0) {
    std::string cmd;
    for (auto& a : argv)
      cmd += a + " ";
    throw std::runtime_error("test PKI: '" + cmd + "' exited with " + std::to_string(rc) + ": " +
                             out);
  }
}

// P-256 keys: quick to make and to handshake with.
const std::vector<std::string> new_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};

} // namespace

tls_pki::tls_pki(std::string dir)
    : dir_(std::move(dir)) {
  make_ca("test-ca");
  make_ca("other-ca");
  issue("server", "localhost", {"DNS:localhost", "IP:127.0.0.1", "IP:::1"}, usage::server);
  for (auto name : {"agent-a", "agent-b"})
    issue(name, name, {std::string{"DNS:"} + name + ".nodes.test"}, usage::client);
  // Same name as an allowed client, wrong CA: only the chain can refuse it.
  issue("rogue", "agent-a", {"DNS:agent-a.nodes.test"}, usage::client, "other-ca");
}

void tls_pki::make_ca(const std::string& name) {
  auto args = std::vector<std::string>{"req", "-x509", "-new"};
  args.insert(args.end(), new_key.begin(), new_key.end());
  args.insert(args.end(),
              {"-keyout", dir_ + "/" + name + ".key", "-out", dir_ + "/" + name + ".crt", "-days",
               "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
               "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  openssl(args);
}

cert_files tls_pki::issue(const std::string& name, const std::string& cn,
                          const std::vector<std::string>& sans, usage u,
                          const std::string& signer) {
  auto f = files(name);
  auto csr = dir_ + "/" + name + ".csr";
  auto ext = dir_ + "/" + name + ".ext";
  {
    std::ofstream out{ext};
    out << "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\n"
        << "extendedKeyUsage=" << (u == usage::server ? "serverAuth" : "clientAuth") << "\n";
    if (!sans.empty()) {
      out << "subjectAltName=";
      for (std::size_t i = 0; i < sans.size(); ++i)
        out << (i > 0 ? "," : "") << sans[i];
      out << "\n";
    }
  }
  auto args = std::vector<std::string>{"req", "-new"};
  args.insert(args.end(), new_key.begin(), new_key.end());
  args.insert(args.end(), {"-keyout", f.key, "-out", csr, "-subj", "/CN=" + cn});
  openssl(args);
  openssl({"x509", "-req", "-in", csr, "-CA", dir_ + "/" + signer + ".crt", "-CAkey",
           dir_ + "/" + signer + ".key", "-CAcreateserial", "-CAserial",
           dir_ + "/" + signer + ".srl", "-out", f.cert, "-days", "2", "-extfile", ext});
  return f;
}

} // namespace fa::test
