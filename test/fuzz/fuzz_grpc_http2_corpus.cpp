// Writes the seed corpus of fuzz_grpc_http2: what libnghttp2's own client sends for
// FlowExportService.Export (the preface, SETTINGS, HEADERS, DATA), each led by the octet
// that chooses the fuzzer's read size: one and several requests, a message across
// frames, a compressed one, an unknown method, two streams, a PING.
// Usage: fuzz_grpc_http2_corpus DIR

#include "rpc/proto.hpp"
#include "test/fuzz/fuzz_seeds.hpp"
#include "test/support/grpc_request.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

using namespace fa;

struct body {
  std::string octets;
  std::size_t at = 0;
  std::size_t frame = 16384;
};

std::string framed(const std::string& m, std::uint8_t compressed = 0) {
  return test::grpc_framed(m, compressed);
}

std::string request(int flows) {
  rpc::pb::ExportRequest r;
  for (int i = 0; i < flows; ++i) {
    auto* f = r.add_flows();
    f->mutable_start_ts()->set_seconds(1'700'000'000);
    f->mutable_end_ts()->set_seconds(1'700'000'060);
    f->mutable_ip()->set_version(rpc::pb::IP_VERSION_4);
    f->mutable_ip()->set_source(std::string("\x0a\x00\x00\x01", 4));
    f->mutable_ip()->set_destination(std::string("\x0a\x00\x00\x02", 4));
    f->mutable_k8s()->set_source_pod_name("web-" + std::to_string(i));
  }
  return r.SerializeAsString();
}

/// The client's octets for streams with `bodies` on `path`, optionally with a PING.
std::vector<std::uint8_t> conversation(std::vector<body> bodies, std::string_view path, bool ping,
                                       std::uint8_t read_size) {
  nghttp2_session* s = test::h2_client();
  for (auto& b : bodies) {
    nghttp2_data_provider p{};
    p.source.ptr = &b;
    p.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                         std::uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
      auto& me = *static_cast<body*>(src->ptr);
      auto n = std::min({len, me.frame, me.octets.size() - me.at});
      std::memcpy(buf, me.octets.data() + me.at, n);
      me.at += n;
      if (me.at == me.octets.size())
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    test::submit_grpc_request(s, path, &p);
  }
  if (ping)
    nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, nullptr);
  std::vector<std::uint8_t> out{read_size};
  const std::string octets = test::h2_output(s);
  out.insert(out.end(), octets.begin(), octets.end());
  nghttp2_session_del(s);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const auto path = test::export_path;
  std::vector<test::fuzz_seed> seeds;
  seeds.push_back({"one", conversation({{framed(request(1))}}, path, false, 96)});
  seeds.push_back({"three-requests",
                   conversation({{framed(request(1)) + framed(request(3)) + framed(request(1))}},
                                path, true, 13)});
  seeds.push_back({"across-frames", conversation({{framed(request(20)), 0, 7}}, path, false, 2)});
  seeds.push_back({"compressed", conversation({{framed(request(1), 1)}}, path, false, 96)});
  seeds.push_back({"unknown-method", conversation({{framed(request(1))}}, "/x.Y/Z", false, 96)});
  seeds.push_back(
      {"two-streams", conversation({{framed(request(2))}, {framed(request(1))}}, path, false, 40)});
  return test::write_seeds(argv[1], seeds);
}
