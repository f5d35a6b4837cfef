// flow-convert-bench: CPU time (this thread's) of turning serialized ExportRequests into
// IPFIX records (rpc/flow_writer: protobuf's wire format read into the session's chunk),
// in ns per Flow, on grpc-loadgen's Flows (ipfix-loadgen's `antrea-v4` records decoded
// into Flows). No HTTP/2, no actors: what the gRPC listener spends per Flow besides its
// per-message cost (README, "gRPC in vs IPFIX over TCP in").
//
//   flow-convert-bench [--flows N] [--rounds K] [--protobuf 0|1] [--uids 0|1]
//
// --uids 1: records with the nine UUID elements (`collector.grpc.include_k8s_uids`; the
// listener's default is 0, without them).
//
// Prints one line per shape: 1 Flow per request (an Agent) and 100 per request.

#include "rpc/flow_decoder.hpp"
#include "rpc/flow_writer.hpp"
#include "test/bench/thread_cpu.hpp"
#include "tools/common/loadgen_content.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fa;

struct options {
  std::size_t flows = 8192; ///< distinct Flows (grpc-loadgen's pool)
  std::size_t rounds = 50;  ///< passes over them
  bool protobuf = true;     ///< also time protobuf's parser (off: a cleaner profile)
  bool uids = false;        ///< records with the UUID elements
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const auto v = static_cast<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10));
    if (k == "--flows")
      o.flows = std::max<std::size_t>(v, 1);
    else if (k == "--rounds")
      o.rounds = std::max<std::size_t>(v, 1);
    else if (k == "--protobuf")
      o.protobuf = v != 0;
    else if (k == "--uids")
      o.uids = v != 0;
    else {
      std::fprintf(stderr, "usage: flow-convert-bench [--flows N] [--rounds K] [--protobuf 0|1] "
                           "[--uids 0|1]\n");
      std::exit(2);
    }
  }
  return o;
}

using fa::bench::cpu_ns;

/// Octets of the IPFIX records the Flows were made from (what IPFIX over TCP carries).
std::size_t ipfix_octets = 0;

/// grpc-loadgen's requests, serialized: `per_request` Flows each.
std::vector<std::string> make_requests(std::size_t flows, std::size_t per_request) {
  const auto kind = tools::template_kind::antrea_v4;
  rpc::flow_decoder decoder{tools::make_template(kind, 256)};
  std::vector<std::string> out;
  rpc::pb::ExportRequest request;
  std::vector<std::uint8_t> rec;
  for (std::size_t i = 0; i < flows; ++i) {
    rec.clear();
    tools::append_record(kind, 1, 1, i, rec);
    ipfix_octets += rec.size();
    auto* f = request.add_flows();
    decoder.decode(rec, *f);
    f->mutable_ipfix()->set_observation_domain_id(1);
    if (static_cast<std::size_t>(request.flows_size()) == per_request || i + 1 == flows) {
      out.push_back(request.SerializeAsString());
      request.Clear();
    }
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  for (std::size_t per_request : {std::size_t{1}, std::size_t{100}}) {
    ipfix_octets = 0;
    const auto requests = make_requests(o.flows, per_request);
    std::size_t octets = 0;
    for (const auto& r : requests)
      octets += r.size();
    messages::session_budgets budgets{std::make_shared<messages::byte_budget>(1LL << 40), nullptr};
    std::size_t out_octets = 0;
    rpc::flow_writer writer{budgets, [&](messages::chunk_ptr c) { out_octets += c->size(); },
                            o.uids};
    std::uint64_t refused = 0;
    auto pass = [&](std::size_t rounds) {
      const auto started = cpu_ns();
      for (std::size_t r = 0; r < rounds; ++r) {
        for (const auto& request : requests) {
          auto got = writer.add_request(request, 1'700'000'000);
          if (!got.ok)
            ++refused;
          for (auto n : got.refused)
            refused += n;
          // The server hands the chunk on once nothing more is ready: here, every 16 KiB.
          if (writer.pending() >= 16 * 1024)
            writer.flush();
        }
        writer.flush();
      }
      return (cpu_ns() - started) / static_cast<double>(o.flows * rounds);
    };
    pass(1);
    out_octets = 0;
    const double ns = pass(o.rounds);
    // For scale: protobuf's generated parser alone, into a message reused across requests.
    rpc::pb::ExportRequest parsed;
    auto t0 = cpu_ns();
    for (std::size_t r = 0; o.protobuf && r < o.rounds; ++r)
      for (const auto& request : requests)
        if (!parsed.ParseFromString(request))
          ++refused;
    const double pb_ns = (cpu_ns() - t0) / static_cast<double>(o.flows * o.rounds);
    std::printf(
        "%3zu Flow(s) per request: %7.1f ns/Flow (protobuf's parser alone %.1f)  (%zu Flows "
        "x %zu rounds, %zu octets in, %zu out per Flow, %zu in the IPFIX record it was made "
        "from, %llu refused)\n",
        per_request, ns, pb_ns, o.flows, o.rounds, octets / o.flows,
        out_octets / (o.flows * o.rounds), ipfix_octets / o.flows,
        static_cast<unsigned long long>(refused));
  }
  return 0;
}
