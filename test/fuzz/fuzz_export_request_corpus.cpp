// Writes the seed corpus of fuzz_export_request: serialized ExportRequests of the load
// generator's Flows (ipfix-loadgen's records decoded into Flows, as grpc-loadgen sends),
// both families, 1, 3 and 20 Flows per request, and one Flow with every field set.
// Usage: fuzz_export_request_corpus DIR

#include "rpc/flow_decoder.hpp"
#include "test/fuzz/fuzz_seeds.hpp"
#include "tools/common/loadgen_content.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  using namespace fa;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::vector<test::fuzz_seed> seeds;
  for (auto kind : {tools::template_kind::antrea_v4, tools::template_kind::antrea_v6}) {
    rpc::flow_decoder decoder{tools::make_template(kind, 256)};
    std::uint64_t index = 0;
    for (int per_request : {1, 3, 20}) {
      rpc::pb::ExportRequest request;
      std::vector<std::uint8_t> rec;
      for (int i = 0; i < per_request; ++i, ++index) {
        rec.clear();
        tools::append_record(kind, 7, 1, index, rec);
        auto* f = request.add_flows();
        decoder.decode(rec, *f);
        f->mutable_ipfix()->set_observation_domain_id(static_cast<std::uint32_t>(1 + i % 2));
        f->mutable_ipfix()->mutable_export_time()->set_seconds(1'700'000'000);
      }
      const auto bytes = request.SerializeAsString();
      seeds.push_back({std::string{tools::to_string(kind)} + "-" + std::to_string(per_request),
                       {bytes.begin(), bytes.end()}});
    }
  }
  rpc::pb::ExportRequest full;
  auto* f = full.add_flows();
  f->mutable_start_ts()->set_seconds(1'700'000'000);
  f->mutable_end_ts()->set_seconds(1'700'000'060);
  f->mutable_ip()->set_version(rpc::pb::IP_VERSION_4);
  f->mutable_ip()->set_source(std::string("\x0a\x00\x00\x01", 4));
  f->mutable_ip()->set_destination(std::string("\x0a\x00\x00\x02", 4));
  f->mutable_transport()->mutable_tcp()->set_state_name("ESTABLISHED");
  auto* k = f->mutable_k8s();
  k->set_source_pod_uid("0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11");
  k->set_egress_ip(std::string("\xac\x12\x00\x64", 4));
  k->set_destination_service_port_name("default/web:http");
  (*k->mutable_source_pod_labels()->mutable_labels())["app"] = "web";
  f->set_proxy_snat_ip(std::string("\x0a\x00\x09\x01", 4));
  f->set_proxy_snat_port(52391);
  const auto bytes = full.SerializeAsString();
  seeds.push_back({"full", {bytes.begin(), bytes.end()}});
  return test::write_seeds(argv[1], seeds);
}
