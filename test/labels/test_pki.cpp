#include "test/labels/test_pki.hpp"

#include "test/support/process.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

namespace fa::test {

test_pki make_test_pki(const std::string& dir) {
  test_pki p{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
             dir + "/client.key"};
  auto ext = dir + "/server.ext";
  {
    std::FILE* f = std::fopen(ext.c_str(), "w");
    std::fputs("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
               "extendedKeyUsage=serverAuth\n",
               f);
    std::fclose(f);
  }
  std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", dir + "/ca.key", "-out", p.ca_cert, "-days", "2", "-subj",
       "/CN=test-kubernetes-ca"},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", p.server_key, "-out", dir + "/server.csr", "-subj", "/CN=kube-apiserver"},
      {"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", p.ca_cert, "-CAkey",
       dir + "/ca.key", "-CAcreateserial", "-out", p.server_cert, "-days", "2", "-extfile", ext},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", p.client_key, "-out", dir + "/client.csr", "-subj",
       "/O=system:serviceaccounts/CN=flow-aggregator"},
      {"openssl", "x509", "-req", "-in", dir + "/client.csr", "-CA", p.ca_cert, "-CAkey",
       dir + "/ca.key", "-CAcreateserial", "-out", p.client_cert, "-days", "2"},
  };
  for (auto& argv : steps) {
    std::string out;
    int rc = run_command(argv, out, std::chrono::seconds{30});
    if (rc != 0) {
      ADD_FAILURE() << argv[0] << " " << argv[1] << " failed (" << rc << "): " << out;
      return {};
    }
  }
  return p;
}

} // namespace fa::test
