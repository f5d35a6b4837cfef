// grpc-loadgen: Antrea's gRPC flow export (FlowExportService.Export, client-streaming) as
// a load for flow-aggregator's grpc:// listener, for the benchmark (test/bench/grpc.sh).
// The Flows are the same records ipfix-loadgen sends (tools/common/loadgen_content.hpp), each
// decoded into a Flow by element (rpc/flow_decoder.hpp), so gRPC in and IPFIX in carry the
// same content. Requests are built before the run; one thread and one connection per
// stream, FLOWS per request (an Agent sends 1). `--dump PREFIX` writes each stream's
// requests to a file instead of sending them, for tools/grpc-go-agent (the same requests
// through the Agent's own library, grpc-go).

#include "rpc/flow_decoder.hpp"
#include "service.grpc.pb.h"
#include "tools/common/cli.hpp"
#include "tools/common/loadgen_content.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

namespace {

using namespace fa;
namespace pb = rpc::pb;

struct options {
  tools::host_port target{"127.0.0.1", 14739};
  std::uint64_t streams = 1;
  std::uint64_t records = 100000; ///< per stream
  std::uint64_t per_request = 1;
  std::uint64_t seed = 1;
  tools::template_kind kind = tools::template_kind::antrea_v4;
  std::string dump; ///< a file name prefix: write the requests, send nothing
};

/// Distinct Flows built per stream; the stream cycles through them (building a million
/// Flows up front would take gigabytes).
constexpr std::uint64_t pool_flows = 8192;

/// The requests of one stream: record i of ipfix-loadgen's content for (seed, odid) as
/// Flow i, `per_request` per request, for the first `pool_flows` records.
std::vector<pb::ExportRequest> make_requests(const options& o, std::uint32_t odid) {
  auto def = tools::make_template(o.kind, 256);
  rpc::flow_decoder decoder{def};
  std::vector<std::uint8_t> rec;
  std::vector<pb::ExportRequest> out;
  auto n = std::min(o.records, std::max(pool_flows, o.per_request));
  out.reserve(n / o.per_request + 1);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i % o.per_request == 0)
      out.emplace_back();
    rec.clear();
    tools::append_record(o.kind, o.seed, odid, i, rec);
    auto* f = out.back().add_flows();
    decoder.decode(rec, *f);
    f->mutable_ipfix()->set_observation_domain_id(odid);
  }
  return out;
}

/// Writes `requests` as grpc-go-agent reads them: a 4-octet big-endian length, then the
/// serialized ExportRequest, for each. The stream cycles through them (a tail shorter than
/// `per_request` is cut by the sender, as below), so these are exactly its requests.
bool dump_requests(const std::string& path, const std::vector<pb::ExportRequest>& requests) {
  std::ofstream out{path, std::ios::binary};
  std::string bytes;
  for (const auto& r : requests) {
    bytes.clear();
    r.SerializeToString(&bytes);
    auto n = static_cast<std::uint32_t>(bytes.size());
    const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                         static_cast<char>(n >> 8), static_cast<char>(n)};
    out.write(len, 4);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  out.close();
  return static_cast<bool>(out);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  tools::arg_parser args{"grpc-loadgen", "Sends Antrea Flows over gRPC (FlowExportService)."};
  args.option("target", "HOST:PORT", "the grpc:// listener", "HOST:PORT", [&](std::string_view v) {
    auto hp = tools::parse_host_port(v);
    if (hp)
      o.target = *hp;
    return hp.has_value();
  });
  auto uint_opt = [&](const char* name, const char* help, std::uint64_t& out) {
    args.option(name, "N", help, "a positive integer", [&out](std::string_view v) {
      auto n = tools::parse_uint(v);
      if (n && *n > 0)
        out = *n;
      return n && *n > 0;
    });
  };
  uint_opt("streams", "streams at once, one connection each (default 1)", o.streams);
  uint_opt("records", "Flows per stream (default 100000)", o.records);
  uint_opt("flows-per-request", "Flows per ExportRequest (default 1, as an Agent)", o.per_request);
  uint_opt("seed", "content seed, as ipfix-loadgen's (default 1)", o.seed);
  args.option("template", "KIND", "antrea-v4 (default) or antrea-v6", "antrea-v4 or antrea-v6",
              [&](std::string_view v) {
                auto k = tools::parse_template_kind(v);
                if (k && *k != tools::template_kind::minimal)
                  o.kind = *k;
                return k && *k != tools::template_kind::minimal;
              });
  args.option("dump", "PREFIX",
              "write stream i's requests to PREFIX.i (i from 0) for grpc-go-agent; send nothing",
              "a file name prefix", [&](std::string_view v) {
                o.dump = v;
                return !v.empty();
              });
  args.parse(argc, argv);

  std::vector<std::vector<pb::ExportRequest>> requests;
  for (std::uint64_t s = 0; s < o.streams; ++s)
    requests.push_back(make_requests(o, static_cast<std::uint32_t>(1 + s)));
  if (!o.dump.empty()) {
    for (std::uint64_t s = 0; s < o.streams; ++s) {
      auto path = o.dump + "." + std::to_string(s);
      if (!dump_requests(path, requests[s])) {
        std::fprintf(stderr, "grpc-loadgen: cannot write %s\n", path.c_str());
        return 1;
      }
    }
    return 0;
  }
  const bool v6 = o.target.host.find(':') != std::string::npos;
  std::string target = v6 ? "[" : "";
  target += o.target.host;
  target += v6 ? "]:" : ":";
  target += std::to_string(o.target.port);
  std::atomic<std::uint64_t> failed{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::uint64_t s = 0; s < o.streams; ++s)
    threads.emplace_back([&, s] {
      grpc::ChannelArguments ca;
      ca.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1); // one connection per stream
      auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), ca);
      auto stub = pb::FlowExportService::NewStub(ch);
      grpc::ClientContext ctx;
      pb::ExportResponse resp;
      auto w = stub->Export(&ctx, &resp);
      // Exactly `records` Flows: whole pool requests, then the rest of one.
      auto& pool = requests[s];
      std::uint64_t sent = 0;
      for (std::size_t k = 0; sent < o.records; k = (k + 1) % pool.size()) {
        auto left = o.records - sent;
        if (static_cast<std::uint64_t>(pool[k].flows_size()) > left) {
          pb::ExportRequest tail;
          tail.mutable_flows()->CopyFrom(pool[k].flows());
          tail.mutable_flows()->DeleteSubrange(static_cast<int>(left),
                                               pool[k].flows_size() - static_cast<int>(left));
          if (!w->Write(tail))
            break;
          sent += left;
          break;
        }
        if (!w->Write(pool[k]))
          break;
        sent += static_cast<std::uint64_t>(pool[k].flows_size());
      }
      w->WritesDone();
      auto st = w->Finish();
      if (!st.ok()) {
        std::fprintf(stderr, "grpc-loadgen: stream %llu: %s\n", static_cast<unsigned long long>(s),
                     st.error_message().c_str());
        ++failed;
      }
    });
  for (auto& t : threads)
    t.join();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto total = o.streams * o.records;
  std::printf("{\"records\": %llu, \"seconds\": %.3f, \"records_per_s\": %.0f, \"failed\": %llu}\n",
              static_cast<unsigned long long>(total), seconds, static_cast<double>(total) / seconds,
              static_cast<unsigned long long>(failed.load()));
  return failed.load() == 0 ? 0 : 1;
}
