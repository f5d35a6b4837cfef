// flow-convert-bench: CPU time (this thread's) of turning serialized ExportRequests into
// IPFIX records (rpc/flow_writer: protobuf's wire format read into the session's chunk),
// in ns per Flow, on grpc-loadgen's Flows (ipfix-loadgen's `antrea-v4` records decoded
// into Flows). No HTTP/2, no actors: what the gRPC listener spends per Flow besides its
// per-message cost (README, "gRPC in vs IPFIX over TCP in").
//
//   flow-convert-bench [--flows N] [--rounds K] [--protobuf 0|1] [--uids 0|1] [--h2 0|1]
//                      [--per-request 1|100]
//
// --uids 1: records with the nine UUID elements (`collector.grpc.include_k8s_uids`; the
// listener's default is 0, without them).
//
// Prints one line per shape: 1 Flow per request (an Agent) and 100 per request.
//
// --h2 1: also the listener's whole path per request (rpc/export_connection: libnghttp2's
// DATA frames, our callbacks, the conversion), one-Flow requests each in its own DATA
// frame as an Agent writes them, fed 64 KiB at a time as the socket reads them.

#include "rpc/export_connection.hpp"
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
  std::size_t flows = 8192;    ///< distinct Flows (grpc-loadgen's pool)
  std::size_t rounds = 50;     ///< passes over them
  bool protobuf = true;        ///< also time protobuf's parser (off: a cleaner profile)
  bool uids = false;           ///< records with the UUID elements
  bool h2 = false;             ///< also through export_connection (HTTP/2 framing)
  std::size_t per_request = 0; ///< one shape only (Flows per request), 0: both
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
    else if (k == "--h2")
      o.h2 = v != 0;
    else if (k == "--per-request")
      o.per_request = v;
    else {
      std::fprintf(stderr, "usage: flow-convert-bench [--flows N] [--rounds K] [--protobuf 0|1] "
                           "[--uids 0|1] [--h2 0|1] [--per-request N]\n");
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

/// An HTTP/2 frame header (RFC 9113 4.1).
void frame(std::string& out, std::size_t length, std::uint8_t type, std::uint8_t flags,
           std::uint32_t stream) {
  const char h[9] = {static_cast<char>(length >> 16), static_cast<char>(length >> 8),
                     static_cast<char>(length),       static_cast<char>(type),
                     static_cast<char>(flags),        static_cast<char>(stream >> 24),
                     static_cast<char>(stream >> 16), static_cast<char>(stream >> 8),
                     static_cast<char>(stream)};
  out.append(h, 9);
}

/// A header field as an HPACK literal without indexing, new name (RFC 7541 6.2.2).
void literal(std::string& out, std::string_view name, std::string_view value) {
  out += '\0';
  out += static_cast<char>(name.size());
  out += name;
  out += static_cast<char>(value.size());
  out += value;
}

class noop_inbound : public net::inbound {
 public:
  void close(std::string) override {}
};

/// ns per Flow of export_connection::receive over one-Flow requests, one DATA frame each.
double h2_pass(const std::vector<std::string>& requests, const options& o) {
  messages::session_budgets budgets{std::make_shared<messages::byte_budget>(1LL << 40), nullptr};
  rpc::export_server_handlers handlers;
  handlers.open = [&](const asio::ip::address&, std::uint16_t, net::inbound_ptr) {
    return std::optional<rpc::export_session>{
        rpc::export_session{budgets, [](messages::chunk_ptr) {}, [](const std::string&) {}}};
  };
  rpc::export_connection::context ctx;
  ctx.address = asio::ip::make_address("127.0.0.1");
  ctx.port = 5000;
  ctx.peer = "127.0.0.1:5000";
  ctx.make_inbound = [](std::int32_t) { return std::make_shared<noop_inbound>(); };
  ctx.make_resume = [](std::int32_t) { return [] {}; };
  ctx.stopping = [] { return false; };
  rpc::export_limits limits;
  limits.include_k8s_uids = o.uids;
  rpc::export_connection c{std::move(ctx), limits, handlers};
  std::string out;
  c.output(out);
  // The client's preface, SETTINGS and the ACK of ours, the request's HEADERS.
  std::string open = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  frame(open, 0, 4, 0, 0);
  frame(open, 0, 4, 1, 0);
  std::string block;
  literal(block, ":method", "POST");
  literal(block, ":scheme", "http");
  literal(block, ":path", "/antrea_io.antrea.pkg.apis.flow.v1alpha1.FlowExportService/Export");
  literal(block, ":authority", "127.0.0.1");
  literal(block, "content-type", "application/grpc");
  literal(block, "te", "trailers");
  frame(open, block.size(), 1, 4, 1);
  open += block;
  if (!c.receive(reinterpret_cast<const std::uint8_t*>(open.data()), open.size())) {
    std::fprintf(stderr, "h2: %s\n", c.reason().c_str());
    std::exit(1);
  }
  std::string data;
  for (const auto& r : requests) {
    const auto m = r.size();
    frame(data, 5 + m, 0, 0, 1);
    const char prefix[5] = {0, static_cast<char>(m >> 24), static_cast<char>(m >> 16),
                            static_cast<char>(m >> 8), static_cast<char>(m)};
    data.append(prefix, 5);
    data += r;
  }
  auto pass = [&](std::size_t rounds) {
    const auto started = cpu_ns();
    for (std::size_t r = 0; r < rounds; ++r)
      for (std::size_t at = 0; at < data.size(); at += 65536) {
        const auto n = std::min<std::size_t>(65536, data.size() - at);
        if (!c.receive(reinterpret_cast<const std::uint8_t*>(data.data() + at), n)) {
          std::fprintf(stderr, "h2: %s\n", c.reason().c_str());
          std::exit(1);
        }
        out.clear();
        c.output(out); // WINDOW_UPDATEs
      }
    return (cpu_ns() - started) / static_cast<double>(o.flows * rounds);
  };
  pass(1);
  return pass(o.rounds);
}

} // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  for (std::size_t per_request : {std::size_t{1}, std::size_t{100}}) {
    if (o.per_request != 0 && per_request != o.per_request)
      continue;
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
    if (o.h2 && per_request == 1)
      std::printf("  1 Flow per request through HTTP/2 (export_connection::receive): %7.1f "
                  "ns/Flow\n",
                  h2_pass(requests, o));
  }
  return 0;
}
