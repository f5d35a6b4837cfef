// libFuzzer target: one ExportRequest's octets into a stream's chunk
// (rpc/flow_writer::add_request), between two good requests. Invariants, for any octets:
// - what protobuf's parser accepts, add_request accepts, and the stream's output is what
//   protobuf's Flows make through the writer one by one (the same records, refusals,
//   templates and sequence numbers);
// - what add_request refuses, protobuf refuses too (it may accept octets protobuf
//   refuses only within the fields it skips unread: rpc/flow_wire.hpp), and the output
//   is as if the request had never been read (its first Flows taken back);
// - every chunk's credit is released with the chunk.

#include "rpc/flow_writer.hpp"

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fa;

/// Two good requests (a first Flow in domain 1, then one in domain 2), serialized once.
const std::string& good(int n) {
  static const std::vector<std::string> requests = [] {
    std::vector<std::string> out;
    for (std::uint32_t odid : {1u, 2u}) {
      rpc::pb::ExportRequest r;
      auto* f = r.add_flows();
      f->mutable_ipfix()->set_observation_domain_id(odid);
      f->mutable_start_ts()->set_seconds(1'700'000'000);
      f->mutable_end_ts()->set_seconds(1'700'000'060);
      f->mutable_ip()->set_version(rpc::pb::IP_VERSION_4);
      f->mutable_ip()->set_source(std::string("\x0a\x00\x00\x01", 4));
      f->mutable_ip()->set_destination(std::string("\x0a\x00\x00\x02", 4));
      f->mutable_k8s()->set_source_pod_name("web-" + std::to_string(odid));
      out.push_back(r.SerializeAsString());
    }
    return out;
  }();
  return requests[static_cast<std::size_t>(n)];
}

struct output {
  messages::session_budgets budgets{std::make_shared<messages::byte_budget>(1LL << 40), nullptr};
  std::vector<messages::chunk_ptr> chunks;
  rpc::flow_writer writer{budgets,
                          [this](messages::chunk_ptr c) { chunks.push_back(std::move(c)); }};
  std::string bytes() const {
    std::string out;
    for (const auto& c : chunks)
      out.append(reinterpret_cast<const char*>(c->bytes().data()), c->bytes().size());
    return out;
  }
};

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_export_request: %s\n", what);
  std::abort();
}

} // namespace

// protobuf logs every string that is not UTF-8: expected here, and slow.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view request{reinterpret_cast<const char*>(data), size};
  rpc::pb::ExportRequest parsed;
  const bool protobuf_ok = parsed.ParseFromArray(data, static_cast<int>(size));

  output got;
  got.writer.add_request(good(0), 1);
  const auto r = got.writer.add_request(request, 1);
  got.writer.add_request(good(1), 1);
  got.writer.flush();

  output want;
  want.writer.add_request(good(0), 1);
  rpc::request_result expected;
  if (protobuf_ok) {
    for (const auto& f : parsed.flows()) {
      ++expected.flows;
      if (auto err = want.writer.add(rpc::fields_of(f), 1); err != rpc::flow_error::none)
        ++expected.refused[static_cast<std::size_t>(err)];
    }
  }
  want.writer.add_request(good(1), 1);
  want.writer.flush();

  if (protobuf_ok && !r.ok)
    broken("refused what protobuf accepts");
  if (protobuf_ok) {
    if (r.flows != expected.flows)
      broken("a different number of Flows");
    if (r.refused != expected.refused)
      broken("different refusals");
    if (got.bytes() != want.bytes())
      broken("records differ from protobuf's");
  }
  if (!r.ok) {
    if (r.flows != 0 || r.refused != decltype(r.refused){})
      broken("a refused request counted Flows");
    if (got.bytes() != want.bytes()) // want: good(0) and good(1) alone
      broken("a refused request left something");
  }
  got.chunks.clear();
  if (got.budgets.session->available() != got.budgets.session->limit())
    broken("a credit was not released");
  return 0;
}
