// grpc-sink: libgrpc's own cost per message, the floor under the gRPC listener while it
// ran on libgrpc (README, "gRPC in vs IPFIX over TCP in"; it reads HTTP/2 itself now). It
// serves FlowExportService.Export as that listener did (rpc/cq_server: one thread driving
// a completion queue, one read pending per stream) and discards what it reads: no
// conversion, no session, no pipeline. test/bench/grpc.sh measures its CPU per Flow beside
// flow-aggregator's.
//
//   grpc-sink --port-file PATH     (listens on 127.0.0.1, an ephemeral port; runs until killed)

#include "rpc/cq_server.hpp"
#include "rpc/proto.hpp"
#include "service.grpc.pb.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

namespace {

using namespace fa;
using service_type =
    rpc::pb::FlowExportService::WithRawMethod_Export<rpc::pb::FlowExportService::Service>;

/// One stream: accepted, then one read after another, then the empty ExportResponse.
struct call {
  enum class state { accepting, reading, finishing } at = state::accepting;
  grpc::ServerContext ctx;
  grpc::ServerAsyncReader<grpc::ByteBuffer, grpc::ByteBuffer> reader{&ctx};
  grpc::ByteBuffer request;
};

grpc::ByteBuffer empty_response() {
  grpc::Slice empty;
  return grpc::ByteBuffer{&empty, 1};
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--port-file") != 0) {
    std::fprintf(stderr, "usage: grpc-sink --port-file PATH\n");
    return 2;
  }
  service_type service;
  grpc::ServerBuilder b;
  b.RegisterService(&service);
  rpc::cq_server server;
  int wake = 0;
  int port = 0;
  if (auto err = server.build(b, "127.0.0.1", 0, nullptr, &wake, port)) {
    std::fprintf(stderr, "grpc-sink: %s\n", err->c_str());
    return 1;
  }
  auto* cq = server.cq();
  auto accept = [&] {
    auto* c = new call;
    service.RequestExport(&c->ctx, &c->reader, cq, cq, c);
  };
  accept();
  std::ofstream{argv[2]} << port << '\n';
  const auto response = empty_response();
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    auto* c = static_cast<call*>(tag);
    switch (c->at) {
    case call::state::accepting:
      if (!ok) {
        delete c;
        continue;
      }
      accept();
      c->at = call::state::reading;
      c->reader.Read(&c->request, c);
      break;
    case call::state::reading:
      if (!ok) {
        c->at = call::state::finishing;
        c->reader.Finish(response, grpc::Status::OK, c);
        break;
      }
      c->request.Clear();
      c->reader.Read(&c->request, c);
      break;
    case call::state::finishing:
      delete c;
      break;
    }
  }
  return 0;
}
