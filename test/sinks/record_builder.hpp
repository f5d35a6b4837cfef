#pragma once

// Records for the sink tests, built by element name: the template takes each element's
// registry length (variable-length for strings), the record its values, and the result
// is an enriched payload as the enrichers hand to destinations.

#include "ipfix/elements.hpp"
#include "ipfix/message_builder.hpp"
#include "messages/batches.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace fa::sinks::test {

/// A value: a number, a string, or an address ("ip:10.0.0.1", "ip:fd00::1").
using value = std::variant<std::uint64_t, std::string>;

struct field {
  std::string name;
  value v;
};

inline std::vector<std::uint8_t> ip_bytes(const std::string& text) {
  std::vector<std::uint8_t> out(text.find(':') == std::string::npos ? 4 : 16);
  if (inet_pton(out.size() == 4 ? AF_INET : AF_INET6, text.c_str(), out.data()) != 1)
    throw std::invalid_argument("not an address: " + text);
  return out;
}

/// The template of `fields` (id `id`).
inline ipfix::template_def template_of(const std::vector<field>& fields, std::uint16_t id = 256) {
  ipfix::template_def def;
  def.id = id;
  for (const auto& f : fields) {
    const auto* e = ipfix::find_element(f.name);
    if (e == nullptr)
      throw std::invalid_argument("unknown element " + f.name);
    def.fields.push_back({e->id, e->length, e->enterprise});
  }
  return def;
}

/// Appends the record of `fields` (in the order of `template_of(fields)`) to `out`.
inline void append_record(const std::vector<field>& fields, std::vector<std::uint8_t>& out) {
  ipfix::message_builder b{out};
  for (const auto& f : fields) {
    const auto* e = ipfix::find_element(f.name);
    if (const auto* s = std::get_if<std::string>(&f.v)) {
      if (s->starts_with("ip:")) {
        auto bytes = ip_bytes(s->substr(3));
        b.put_bytes(bytes);
      } else {
        b.put_string(*s);
      }
      continue;
    }
    auto n = std::get<std::uint64_t>(f.v);
    for (int i = e->length - 1; i >= 0; --i)
      b.put_u8(static_cast<std::uint8_t>(n >> (8 * i)));
  }
}

/// A payload of one set holding `records` (all with the fields of the first, in order).
inline std::shared_ptr<const messages::enriched_payload>
payload(const std::vector<std::vector<field>>& records, std::uint16_t id = 256) {
  auto p = std::make_shared<messages::enriched_payload>();
  auto t = std::make_shared<messages::output_template>();
  t->id = id;
  t->def = template_of(records.front(), id);
  std::vector<std::uint8_t> body;
  for (const auto& r : records)
    append_record(r, body);
  p->bytes.assign(body.begin(), body.end());
  p->sets.push_back({t, 0, static_cast<std::uint32_t>(p->bytes.size()),
                     static_cast<std::uint32_t>(records.size())});
  p->records = records.size();
  return p;
}

/// An Antrea agent's IPv4 record as the enricher forwards it in proxy mode (the agent's
/// elements plus labels and clusterId); `i` varies the ports and counters.
inline std::vector<field> antrea_record(std::uint64_t i = 0) {
  return {
      {"flowStartSeconds", std::uint64_t{1700000000} + i},
      {"flowEndSeconds", std::uint64_t{1700000060} + i},
      {"flowEndReason", std::uint64_t{3}},
      {"sourceIPv4Address", std::string{"ip:10.10.0.5"}},
      {"destinationIPv4Address", std::string{"ip:10.10.1.7"}},
      {"sourceTransportPort", std::uint64_t{43512} + i % 1000},
      {"destinationTransportPort", std::uint64_t{5201}},
      {"protocolIdentifier", std::uint64_t{6}},
      {"packetTotalCount", std::uint64_t{1000} + i},
      {"octetTotalCount", std::uint64_t{1500000}},
      {"packetDeltaCount", std::uint64_t{100}},
      {"octetDeltaCount", std::uint64_t{150000}},
      {"reversePacketTotalCount", std::uint64_t{900}},
      {"reverseOctetTotalCount", std::uint64_t{60000}},
      {"reversePacketDeltaCount", std::uint64_t{90}},
      {"reverseOctetDeltaCount", std::uint64_t{6000}},
      {"sourcePodName", std::string{"iperf-client"}},
      {"sourcePodNamespace", std::string{"antrea-test"}},
      {"sourceNodeName", std::string{"k8s-node-1"}},
      {"destinationPodName", std::string{"iperf-server"}},
      {"destinationPodNamespace", std::string{"antrea-test"}},
      {"destinationNodeName", std::string{"k8s-node-2"}},
      {"destinationClusterIPv4", std::string{"ip:10.96.0.10"}},
      {"destinationServicePort", std::uint64_t{5201}},
      {"destinationServicePortName", std::string{"antrea-test/iperf:tcp"}},
      {"ingressNetworkPolicyName", std::string{"allow-iperf"}},
      {"ingressNetworkPolicyNamespace", std::string{"antrea-test"}},
      {"ingressNetworkPolicyType", std::uint64_t{2}},
      {"ingressNetworkPolicyRuleName", std::string{"rule1"}},
      {"ingressNetworkPolicyRuleAction", std::uint64_t{1}},
      {"egressNetworkPolicyName", std::string{}},
      {"egressNetworkPolicyNamespace", std::string{}},
      {"egressNetworkPolicyType", std::uint64_t{0}},
      {"egressNetworkPolicyRuleName", std::string{}},
      {"egressNetworkPolicyRuleAction", std::uint64_t{0}},
      {"tcpState", std::string{"ESTABLISHED"}},
      {"flowType", std::uint64_t{2}},
      {"egressName", std::string{"egress-a"}},
      {"egressIP", std::string{"172.18.0.3"}},
      {"egressNodeName", std::string{"k8s-node-3"}},
      {"destinationServiceIPv4", std::string{"ip:10.96.0.10"}},
      {"sourcePodLabels", std::string{R"({"antrea-e2e":"perftest-a","app":"iperf"})"}},
      {"destinationPodLabels", std::string{"{}"}},
      {"clusterId", std::string{"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"}},
  };
}

/// The aggregation elements an aggregate-mode record adds (antrea-aggregate-semantics.md).
inline std::vector<field> aggregation_fields() {
  return {
      {"flowEndSecondsFromSourceNode", std::uint64_t{1700000059}},
      {"flowEndSecondsFromDestinationNode", std::uint64_t{1700000058}},
      {"throughput", std::uint64_t{20000}},
      {"reverseThroughput", std::uint64_t{800}},
      {"throughputFromSourceNode", std::uint64_t{20001}},
      {"throughputFromDestinationNode", std::uint64_t{19999}},
      {"reverseThroughputFromSourceNode", std::uint64_t{801}},
      {"reverseThroughputFromDestinationNode", std::uint64_t{799}},
  };
}

} // namespace fa::sinks::test
