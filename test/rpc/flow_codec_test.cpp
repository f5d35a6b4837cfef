// Flow -> IPFIX record (rpc/flow_codec, rpc/flow_writer) and back (rpc/flow_decoder):
// every field and every enumeration value, the refusals, the message framing.

#include "config/cluster_id.hpp"
#include "ipfix/elements.hpp"
#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "rpc/flow_decoder.hpp"
#include "rpc/flow_writer.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <map>
#include <string>
#include <vector>

namespace fa::rpc {
namespace {

std::string v4(const char* text) {
  std::string out(4, '\0');
  ::inet_pton(AF_INET, text, out.data());
  return out;
}

std::string v6(const char* text) {
  std::string out(16, '\0');
  ::inet_pton(AF_INET6, text, out.data());
  return out;
}

/// A Flow with every field the Agent sets (antrea-grpc-transport.md 2), all distinct.
pb::Flow full_flow(bool ipv6 = false) {
  pb::Flow f;
  f.mutable_ipfix()->mutable_export_time()->set_seconds(1'700'000'100);
  f.mutable_ipfix()->set_observation_domain_id(801257890); // FNV-1 of "kind-worker"
  f.mutable_start_ts()->set_seconds(1'700'000'000);
  f.mutable_start_ts()->set_nanos(123'000'000);
  f.mutable_end_ts()->set_seconds(1'700'000'060);
  f.set_end_reason(pb::FLOW_END_REASON_ACTIVE_TIMEOUT);
  auto* ip = f.mutable_ip();
  ip->set_version(ipv6 ? pb::IP_VERSION_6 : pb::IP_VERSION_4);
  ip->set_source(ipv6 ? v6("fd00:10:244:1::5") : v4("10.244.1.5"));
  ip->set_destination(ipv6 ? v6("fd00:10:244:2::7") : v4("10.244.2.7"));
  auto* t = f.mutable_transport();
  t->set_protocol_number(6);
  t->set_source_port(43210);
  t->set_destination_port(8080);
  t->mutable_tcp()->set_state_name("ESTABLISHED");
  auto* k = f.mutable_k8s();
  k->set_flow_type(pb::FLOW_TYPE_INTER_NODE);
  k->set_source_pod_namespace("default");
  k->set_source_pod_name("frontend-7d9f8b6c5-abcde");
  k->set_source_pod_uid("0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11");
  k->set_source_node_name("kind-worker");
  k->set_source_node_uid("11111111-2222-3333-4444-555555555555");
  k->set_destination_pod_namespace("payments");
  k->set_destination_pod_name("api-gateway-0");
  k->set_destination_pod_uid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  k->set_destination_node_name("kind-worker2");
  k->set_destination_node_uid("12345678-9abc-def0-1234-56789abcdef0");
  k->set_destination_cluster_ip(ipv6 ? v6("fd00:10:96::10") : v4("10.96.0.10"));
  k->set_destination_service_port(80);
  k->set_destination_service_port_name("payments/api-gateway:http");
  k->set_destination_service_uid("feedface-0000-4000-8000-000000000001");
  k->set_ingress_network_policy_type(pb::NETWORK_POLICY_TYPE_ANP);
  k->set_ingress_network_policy_namespace("payments");
  k->set_ingress_network_policy_name("allow-frontend");
  k->set_ingress_network_policy_uid("feedface-0000-4000-8000-000000000002");
  k->set_ingress_network_policy_rule_name("rule-0");
  k->set_ingress_network_policy_rule_action(pb::NETWORK_POLICY_RULE_ACTION_ALLOW);
  k->set_egress_network_policy_type(pb::NETWORK_POLICY_TYPE_K8SCNP);
  k->set_egress_network_policy_namespace("default");
  k->set_egress_network_policy_name("egress-np");
  k->set_egress_network_policy_uid("feedface-0000-4000-8000-000000000003");
  k->set_egress_network_policy_rule_name("egress-to-dns");
  k->set_egress_network_policy_rule_action(pb::NETWORK_POLICY_RULE_ACTION_REJECT);
  k->set_egress_name("egress-prod");
  k->set_egress_ip(ipv6 ? v6("fd00:172:18::100") : v4("172.18.0.100"));
  k->set_egress_node_name("kind-worker3");
  k->set_egress_node_uid("feedface-0000-4000-8000-000000000004");
  k->set_egress_uid("feedface-0000-4000-8000-000000000005");
  k->set_destination_service_ip(ipv6 ? v6("fd00:10:96::11") : v4("10.96.0.11"));
  auto set_stats = [](pb::Stats* s, std::uint64_t base) {
    s->set_packet_total_count(base + 1);
    s->set_packet_delta_count(base + 2);
    s->set_octet_total_count(base + 3);
    s->set_octet_delta_count(base + 4);
  };
  set_stats(f.mutable_stats(), 1000);
  set_stats(f.mutable_reverse_stats(), 2000);
  f.set_proxy_snat_ip(ipv6 ? v6("fd00:10:244:9::1") : v4("10.244.9.1"));
  f.set_proxy_snat_port(52391);
  return f;
}

/// The fields of `f` as the server reads them: serialized by protobuf, read back by
/// rpc/flow_wire (`keep` holds the octets the views point into).
flow_fields from_wire(const pb::Flow& f, std::string& keep) {
  keep = f.SerializeAsString();
  flow_fields out;
  EXPECT_TRUE(parse_flow(keep, out));
  return out;
}

/// A flow_writer fed as the server feeds it: each Flow through its wire format.
class wire_writer : public flow_writer {
 public:
  using flow_writer::flow_writer;
  flow_error add(const pb::Flow& f, std::uint32_t now) {
    std::string bytes;
    return flow_writer::add(from_wire(f, bytes), now);
  }
};

struct written {
  std::vector<messages::chunk_ptr> chunks;
  messages::session_budgets budgets{std::make_shared<messages::byte_budget>(1 << 30), nullptr};
  wire_writer writer{budgets, [this](messages::chunk_ptr c) { chunks.push_back(std::move(c)); }};
};

/// One received message: its header, templates and data records.
struct parsed_message {
  ipfix::message_header header;
  std::vector<ipfix::template_def> templates;
  std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>> records; ///< (template, bytes)
};

std::vector<parsed_message> parse_all(const std::vector<messages::chunk_ptr>& chunks) {
  std::vector<parsed_message> out;
  std::map<std::uint16_t, ipfix::template_def> known;
  for (auto& c : chunks) {
    auto bytes = c->bytes();
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      auto len = ipfix::read_u16(bytes.data() + pos + 2);
      ipfix::message_view msg;
      EXPECT_EQ(ipfix::message_view::parse(bytes.subspan(pos, len), msg), ipfix::parse_error::none);
      pos += len;
      parsed_message pm;
      pm.header = msg.header();
      msg.for_each_set([&](const ipfix::set_view& set) {
        if (set.kind() != ipfix::set_kind::data_set) {
          EXPECT_EQ(ipfix::parse_template_set(set.id, set.body,
                                              [&](ipfix::template_record&& r) {
                                                known[r.def.id] = r.def;
                                                pm.templates.push_back(r.def);
                                              }),
                    ipfix::parse_error::none);
          return;
        }
        EXPECT_TRUE(known.count(set.id)) << "data before its template";
        ipfix::record_layout layout{known[set.id]};
        ipfix::record_cursor cur{set.body, layout};
        ipfix::bytes_view rec;
        while (cur.next(rec))
          pm.records.emplace_back(set.id, std::vector<std::uint8_t>(rec.begin(), rec.end()));
        EXPECT_EQ(cur.error(), ipfix::parse_error::none);
      });
      out.push_back(std::move(pm));
    }
  }
  return out;
}

/// The record's fields by element name (the registry's), as raw bytes.
std::map<std::string, std::string> by_name(const ipfix::template_def& def,
                                           const std::vector<std::uint8_t>& rec) {
  std::map<std::string, std::string> out;
  ipfix::record_layout layout{def};
  layout.for_each_field(rec, [&](std::size_t i, ipfix::field_slice s) {
    auto name = ipfix::element_name(def.fields[i].enterprise, def.fields[i].id);
    if (def.fields[i].enterprise == ipfix::reverse_pen && !name.starts_with("reverse"))
      name = "reverse" + name;
    out[name] = std::string(reinterpret_cast<const char*>(rec.data()) + s.offset, s.length);
  });
  return out;
}

std::uint64_t num(const std::string& raw) {
  return ipfix::read_uint(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size());
}

std::string uuid_bytes(const char* text) {
  auto u = config::parse_uuid(text);
  EXPECT_TRUE(u) << text;
  return u ? std::string(reinterpret_cast<const char*>(u->data()), 16) : std::string{};
}

/// What survives the trip through IPFIX: only seconds of the timestamps, no export
/// metadata (the header carries it), no labels (the aggregator adds them).
pb::Flow expected_back(pb::Flow f) {
  f.mutable_start_ts()->set_nanos(0);
  f.mutable_end_ts()->set_nanos(0);
  f.clear_ipfix();
  return f;
}

TEST(flow_codec, every_field_of_an_ipv4_flow_lands_in_its_element) {
  written w;
  auto f = full_flow();
  ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.export_time, 1'700'000'100u);
  EXPECT_EQ(msgs[0].header.observation_domain_id, 801257890u);
  EXPECT_EQ(msgs[0].header.sequence, 0u);
  ASSERT_EQ(msgs[0].templates.size(), 2u);
  EXPECT_EQ(msgs[0].templates[0], flow_template(false));
  EXPECT_EQ(msgs[0].templates[1], flow_template(true));
  ASSERT_EQ(msgs[0].records.size(), 1u);
  EXPECT_EQ(msgs[0].records[0].first, flow_template_v4);
  auto r = by_name(flow_template(false), msgs[0].records[0].second);
  EXPECT_EQ(r.size(), flow_template(false).fields.size()) << "an element appears twice";
  EXPECT_EQ(num(r["flowStartSeconds"]), 1'700'000'000u);
  EXPECT_EQ(num(r["flowEndSeconds"]), 1'700'000'060u);
  EXPECT_EQ(num(r["flowEndReason"]), 2u);
  EXPECT_EQ(num(r["sourceTransportPort"]), 43210u);
  EXPECT_EQ(num(r["destinationTransportPort"]), 8080u);
  EXPECT_EQ(num(r["protocolIdentifier"]), 6u);
  EXPECT_EQ(num(r["packetTotalCount"]), 1001u);
  EXPECT_EQ(num(r["packetDeltaCount"]), 1002u);
  EXPECT_EQ(num(r["octetTotalCount"]), 1003u);
  EXPECT_EQ(num(r["octetDeltaCount"]), 1004u);
  EXPECT_EQ(num(r["reversePacketTotalCount"]), 2001u);
  EXPECT_EQ(num(r["reversePacketDeltaCount"]), 2002u);
  EXPECT_EQ(num(r["reverseOctetTotalCount"]), 2003u);
  EXPECT_EQ(num(r["reverseOctetDeltaCount"]), 2004u);
  EXPECT_EQ(r["sourceIPv4Address"], v4("10.244.1.5"));
  EXPECT_EQ(r["destinationIPv4Address"], v4("10.244.2.7"));
  EXPECT_EQ(r["sourcePodNamespace"], "default");
  EXPECT_EQ(r["sourcePodName"], "frontend-7d9f8b6c5-abcde");
  EXPECT_EQ(r["sourcePodUUID"], uuid_bytes("0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"));
  EXPECT_EQ(r["sourceNodeName"], "kind-worker");
  EXPECT_EQ(r["sourceNodeUUID"], uuid_bytes("11111111-2222-3333-4444-555555555555"));
  EXPECT_EQ(r["destinationPodNamespace"], "payments");
  EXPECT_EQ(r["destinationPodName"], "api-gateway-0");
  EXPECT_EQ(r["destinationPodUUID"], uuid_bytes("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
  EXPECT_EQ(r["destinationNodeName"], "kind-worker2");
  EXPECT_EQ(r["destinationNodeUUID"], uuid_bytes("12345678-9abc-def0-1234-56789abcdef0"));
  EXPECT_EQ(r["destinationClusterIPv4"], v4("10.96.0.10"));
  EXPECT_EQ(r["destinationServiceIPv4"], v4("10.96.0.11"));
  EXPECT_EQ(num(r["destinationServicePort"]), 80u);
  EXPECT_EQ(r["destinationServicePortName"], "payments/api-gateway:http");
  EXPECT_EQ(r["destinationServiceUUID"], uuid_bytes("feedface-0000-4000-8000-000000000001"));
  EXPECT_EQ(num(r["ingressNetworkPolicyType"]), 2u);
  EXPECT_EQ(r["ingressNetworkPolicyNamespace"], "payments");
  EXPECT_EQ(r["ingressNetworkPolicyName"], "allow-frontend");
  EXPECT_EQ(r["ingressNetworkPolicyUUID"], uuid_bytes("feedface-0000-4000-8000-000000000002"));
  EXPECT_EQ(r["ingressNetworkPolicyRuleName"], "rule-0");
  EXPECT_EQ(num(r["ingressNetworkPolicyRuleAction"]), 1u);
  EXPECT_EQ(num(r["egressNetworkPolicyType"]), 4u);
  EXPECT_EQ(r["egressNetworkPolicyNamespace"], "default");
  EXPECT_EQ(r["egressNetworkPolicyName"], "egress-np");
  EXPECT_EQ(r["egressNetworkPolicyUUID"], uuid_bytes("feedface-0000-4000-8000-000000000003"));
  EXPECT_EQ(r["egressNetworkPolicyRuleName"], "egress-to-dns");
  EXPECT_EQ(num(r["egressNetworkPolicyRuleAction"]), 3u);
  EXPECT_EQ(r["tcpState"], "ESTABLISHED");
  EXPECT_EQ(num(r["flowType"]), 2u);
  EXPECT_EQ(r["egressName"], "egress-prod");
  EXPECT_EQ(r["egressIP"], "172.18.0.100");
  EXPECT_EQ(r["egressNodeName"], "kind-worker3");
  EXPECT_EQ(r["egressNodeUUID"], uuid_bytes("feedface-0000-4000-8000-000000000004"));
  EXPECT_EQ(r["egressUUID"], uuid_bytes("feedface-0000-4000-8000-000000000005"));
  EXPECT_EQ(r["proxySnatIPv4"], v4("10.244.9.1"));
  EXPECT_EQ(num(r["proxySnatPort"]), 52391u);

  pb::Flow back;
  flow_decoder{flow_template(false)}.decode(msgs[0].records[0].second, back);
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(expected_back(f), back)) << diff;
}

TEST(flow_codec, an_ipv6_flow_uses_the_ipv6_template_and_round_trips) {
  written w;
  auto f = full_flow(true);
  ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].records.size(), 1u);
  EXPECT_EQ(msgs[0].records[0].first, flow_template_v6);
  auto r = by_name(flow_template(true), msgs[0].records[0].second);
  EXPECT_EQ(r["sourceIPv6Address"], v6("fd00:10:244:1::5"));
  EXPECT_EQ(r["destinationIPv6Address"], v6("fd00:10:244:2::7"));
  EXPECT_EQ(r["destinationClusterIPv6"], v6("fd00:10:96::10"));
  EXPECT_EQ(r["destinationServiceIPv6"], v6("fd00:10:96::11"));
  EXPECT_EQ(r["proxySnatIPv6"], v6("fd00:10:244:9::1"));
  EXPECT_EQ(r["egressIP"], "fd00:172:18::100");
  pb::Flow back;
  flow_decoder{flow_template(true)}.decode(msgs[0].records[0].second, back);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected_back(f), back))
      << back.DebugString();
}

TEST(flow_codec, unset_optional_fields_are_zero_addresses_empty_strings_and_zero_uuids) {
  pb::Flow f;
  f.mutable_start_ts()->set_seconds(10);
  f.mutable_end_ts()->set_seconds(20);
  f.mutable_ip()->set_version(pb::IP_VERSION_4);
  f.mutable_ip()->set_source(v4("10.0.0.1"));
  f.mutable_ip()->set_destination(v4("10.0.0.2"));
  f.mutable_transport()->set_protocol_number(17); // UDP: no TCP message
  written w;
  ASSERT_EQ(w.writer.add(f, 1'700'000'555), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.export_time, 1'700'000'555u) << "no export_time: now";
  auto r = by_name(flow_template(false), msgs[0].records[0].second);
  EXPECT_EQ(r["destinationClusterIPv4"], std::string(4, '\0'));
  EXPECT_EQ(r["proxySnatIPv4"], std::string(4, '\0'));
  EXPECT_EQ(r["sourcePodUUID"], std::string(16, '\0'));
  EXPECT_EQ(r["tcpState"], "");
  EXPECT_EQ(r["egressIP"], "");
  pb::Flow back;
  flow_decoder{flow_template(false)}.decode(msgs[0].records[0].second, back);
  EXPECT_TRUE(back.proxy_snat_ip().empty());
  EXPECT_TRUE(back.k8s().destination_cluster_ip().empty());
  EXPECT_TRUE(back.k8s().source_pod_uid().empty());
  EXPECT_FALSE(back.transport().has_tcp()) << "4.1: TCP only when the state is non-empty";
  EXPECT_TRUE(back.k8s().egress_ip().empty());
}

/// Every value of every enumeration the reference lists goes into its element as the
/// number, and back.
struct enum_case {
  const char* element;
  int value;
};

class flow_codec_enum : public testing::TestWithParam<enum_case> {};

TEST_P(flow_codec_enum, value_is_the_element_and_comes_back) {
  auto [element, value] = GetParam();
  auto f = full_flow();
  auto* k = f.mutable_k8s();
  std::string e = element;
  if (e == "flowEndReason")
    f.set_end_reason(static_cast<pb::FlowEndReason>(value));
  else if (e == "flowType")
    k->set_flow_type(static_cast<pb::FlowType>(value));
  else if (e == "ingressNetworkPolicyType")
    k->set_ingress_network_policy_type(static_cast<pb::NetworkPolicyType>(value));
  else if (e == "egressNetworkPolicyType")
    k->set_egress_network_policy_type(static_cast<pb::NetworkPolicyType>(value));
  else if (e == "ingressNetworkPolicyRuleAction")
    k->set_ingress_network_policy_rule_action(static_cast<pb::NetworkPolicyRuleAction>(value));
  else if (e == "egressNetworkPolicyRuleAction")
    k->set_egress_network_policy_rule_action(static_cast<pb::NetworkPolicyRuleAction>(value));
  written w;
  ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 1u);
  auto r = by_name(flow_template(false), msgs[0].records[0].second);
  EXPECT_EQ(num(r[element]), static_cast<std::uint64_t>(value));
  pb::Flow back;
  flow_decoder{flow_template(false)}.decode(msgs[0].records[0].second, back);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected_back(f), back));
}

std::vector<enum_case> enum_cases() {
  std::vector<enum_case> out;
  for (int v = 0; v <= 5; ++v)
    out.push_back({"flowEndReason", v});
  for (int v = 0; v <= 4; ++v)
    out.push_back({"flowType", v});
  for (int v = 0; v <= 4; ++v) {
    out.push_back({"ingressNetworkPolicyType", v});
    out.push_back({"egressNetworkPolicyType", v});
  }
  for (int v = 0; v <= 3; ++v) {
    out.push_back({"ingressNetworkPolicyRuleAction", v});
    out.push_back({"egressNetworkPolicyRuleAction", v});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(all, flow_codec_enum, testing::ValuesIn(enum_cases()),
                         [](const auto& info) {
                           return std::string{info.param.element} + "_" +
                                  std::to_string(info.param.value);
                         });

// measure() checks the enumerations a record carries by range: each must number its
// values 0 .. MAX without a gap (a value added to flow.proto out of sequence fails here).
TEST(flow_codec, record_enumerations_have_no_gaps) {
  auto dense = [](int min, int max, bool (*valid)(int)) {
    for (int v = min; v <= max; ++v)
      if (!valid(v))
        return false;
    return min == 0;
  };
  EXPECT_TRUE(dense(pb::FlowEndReason_MIN, pb::FlowEndReason_MAX, pb::FlowEndReason_IsValid));
  EXPECT_TRUE(dense(pb::FlowType_MIN, pb::FlowType_MAX, pb::FlowType_IsValid));
  EXPECT_TRUE(
      dense(pb::NetworkPolicyType_MIN, pb::NetworkPolicyType_MAX, pb::NetworkPolicyType_IsValid));
  EXPECT_TRUE(dense(pb::NetworkPolicyRuleAction_MIN, pb::NetworkPolicyRuleAction_MAX,
                    pb::NetworkPolicyRuleAction_IsValid));
}

TEST(flow_codec, refusals_name_the_fault_and_write_nothing) {
  struct refusal {
    const char* what;
    flow_error expected;
    void (*spoil)(pb::Flow&);
  };
  const refusal cases[] = {
      {"no start_ts", flow_error::no_timestamps, [](pb::Flow& f) { f.clear_start_ts(); }},
      {"no end_ts", flow_error::no_timestamps, [](pb::Flow& f) { f.clear_end_ts(); }},
      {"negative seconds", flow_error::bad_timestamp,
       [](pb::Flow& f) { f.mutable_start_ts()->set_seconds(-1); }},
      {"seconds past 2106", flow_error::bad_timestamp,
       [](pb::Flow& f) { f.mutable_end_ts()->set_seconds(1LL << 33); }},
      {"no ip", flow_error::bad_ip_version, [](pb::Flow& f) { f.clear_ip(); }},
      {"ip version 5", flow_error::bad_ip_version,
       [](pb::Flow& f) { f.mutable_ip()->set_version(static_cast<pb::IPVersion>(5)); }},
      {"v4 flow with a v6 source", flow_error::bad_address,
       [](pb::Flow& f) { f.mutable_ip()->set_source(v6("::1")); }},
      {"empty destination", flow_error::bad_address,
       [](pb::Flow& f) { f.mutable_ip()->clear_destination(); }},
      {"v6 service ip in a v4 flow", flow_error::bad_address,
       [](pb::Flow& f) { f.mutable_k8s()->set_destination_service_ip(v6("::1")); }},
      {"3-octet SNAT ip", flow_error::bad_address,
       [](pb::Flow& f) { f.set_proxy_snat_ip(std::string(3, 'x')); }},
      {"5-octet egress ip", flow_error::bad_address,
       [](pb::Flow& f) { f.mutable_k8s()->set_egress_ip(std::string(5, 'x')); }},
      {"port 65536", flow_error::bad_port,
       [](pb::Flow& f) { f.mutable_transport()->set_source_port(65536); }},
      {"protocol 256", flow_error::bad_port,
       [](pb::Flow& f) { f.mutable_transport()->set_protocol_number(256); }},
      {"service port 70000", flow_error::bad_port,
       [](pb::Flow& f) { f.mutable_k8s()->set_destination_service_port(70000); }},
      {"snat port 70000", flow_error::bad_port, [](pb::Flow& f) { f.set_proxy_snat_port(70000); }},
      {"end reason 6", flow_error::unknown_enum,
       [](pb::Flow& f) { f.set_end_reason(static_cast<pb::FlowEndReason>(6)); }},
      {"flow type 5", flow_error::unknown_enum,
       [](pb::Flow& f) { f.mutable_k8s()->set_flow_type(static_cast<pb::FlowType>(5)); }},
      {"policy type 5", flow_error::unknown_enum,
       [](pb::Flow& f) {
         f.mutable_k8s()->set_egress_network_policy_type(static_cast<pb::NetworkPolicyType>(5));
       }},
      {"rule action 4", flow_error::unknown_enum,
       [](pb::Flow& f) {
         f.mutable_k8s()->set_ingress_network_policy_rule_action(
             static_cast<pb::NetworkPolicyRuleAction>(4));
       }},
      {"a 70000-octet Pod name", flow_error::too_large,
       [](pb::Flow& f) { f.mutable_k8s()->set_source_pod_name(std::string(70000, 'a')); }},
  };
  for (const auto& c : cases) {
    auto f = full_flow();
    c.spoil(f);
    written w;
    EXPECT_EQ(w.writer.add(f, 1), c.expected) << c.what;
    EXPECT_EQ(w.writer.pending(), 0u) << c.what;
    w.writer.flush();
    EXPECT_TRUE(w.chunks.empty()) << c.what;
  }
}

TEST(flow_codec, a_long_string_takes_the_three_octet_length_form) {
  auto f = full_flow();
  f.mutable_k8s()->set_destination_service_port_name(std::string(300, 's'));
  written w;
  ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  auto r = by_name(flow_template(false), msgs.at(0).records.at(0).second);
  EXPECT_EQ(r["destinationServicePortName"], std::string(300, 's'));
}

// The record's size is summed from the strings' lengths, with two octets more for each of
// 255 or more (RFC 7011 7): lengths whose bits together reach 255 though none does
// (128 and 127), and 254 and 255 side by side, each take the form of their own length.
TEST(flow_codec, strings_around_255_octets_take_their_own_length_form) {
  struct lengths {
    std::size_t a, b;
  };
  for (auto [a, b] : {lengths{128, 127}, lengths{254, 255}, lengths{255, 1}, lengths{0, 256}}) {
    auto f = full_flow();
    f.mutable_k8s()->set_source_pod_name(std::string(a, 'p'));
    f.mutable_k8s()->set_egress_name(std::string(b, 'e'));
    written w;
    ASSERT_EQ(w.writer.add(f, 1), flow_error::none) << a << " " << b;
    w.writer.flush();
    auto msgs = parse_all(w.chunks);
    ASSERT_EQ(msgs.size(), 1u) << a << " " << b;
    ASSERT_EQ(msgs[0].records.size(), 1u) << a << " " << b;
    auto r = by_name(flow_template(false), msgs[0].records[0].second);
    EXPECT_EQ(r["sourcePodName"], std::string(a, 'p')) << a << " " << b;
    EXPECT_EQ(r["egressName"], std::string(b, 'e')) << a << " " << b;
  }
}

TEST(flow_writer, templates_once_per_domain_and_sequence_counts_records) {
  written w;
  auto a = full_flow();
  auto b = full_flow(true);
  b.mutable_ipfix()->set_observation_domain_id(7);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(w.writer.add(a, 1), flow_error::none);
  ASSERT_EQ(w.writer.add(b, 1), flow_error::none);
  w.writer.flush();
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(w.writer.add(a, 1), flow_error::none);
  ASSERT_EQ(w.writer.add(b, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].header.observation_domain_id, 801257890u);
  EXPECT_EQ(msgs[0].templates.size(), 2u);
  EXPECT_EQ(msgs[0].records.size(), 3u);
  EXPECT_EQ(msgs[1].header.observation_domain_id, 7u);
  EXPECT_EQ(msgs[1].templates.size(), 2u) << "a new domain gets its own templates";
  EXPECT_EQ(msgs[2].templates.size(), 0u) << "the session keeps them: sent once";
  // RFC 7011 3.1: data records sent in the domain before this message.
  EXPECT_EQ(msgs[2].header.sequence, 3u);
  EXPECT_EQ(msgs[2].records.size(), 2u);
  EXPECT_EQ(msgs[3].header.sequence, 1u);
}

// IPv4 and IPv6 Flows of one domain alternate: each record goes to a set of its own
// family's template (a new set when the family changes), in the order received.
TEST(flow_writer, each_family_gets_its_own_set_in_one_message) {
  written w;
  const auto v4 = full_flow();
  const auto v6 = full_flow(true);
  for (const auto* f : {&v4, &v4, &v6, &v4, &v6, &v6})
    ASSERT_EQ(w.writer.add(*f, 1), flow_error::none);
  w.writer.flush();
  auto msgs = parse_all(w.chunks);
  ASSERT_EQ(msgs.size(), 1u);
  std::vector<std::uint16_t> sets;
  for (const auto& [id, rec] : msgs[0].records)
    sets.push_back(id);
  EXPECT_EQ(sets,
            (std::vector<std::uint16_t>{flow_template_v4, flow_template_v4, flow_template_v6,
                                        flow_template_v4, flow_template_v6, flow_template_v6}));
  EXPECT_EQ(by_name(flow_template(true), msgs[0].records[2].second)["sourceIPv6Address"],
            v6.ip().source());
}

TEST(flow_writer, messages_stay_within_65535_octets_and_chunks_are_charged_to_budgets) {
  auto budget = std::make_shared<messages::byte_budget>(1 << 30);
  std::vector<messages::chunk_ptr> chunks;
  wire_writer w{{budget, nullptr}, [&](messages::chunk_ptr c) { chunks.push_back(std::move(c)); }};
  auto f = full_flow();
  f.mutable_k8s()->set_destination_service_port_name(std::string(2000, 'x'));
  constexpr int n = 500; // about 1.2 MB of records: several messages and chunks
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(w.add(f, 1), flow_error::none);
  w.flush();
  ASSERT_GT(chunks.size(), 1u);
  std::int64_t charged = 0;
  for (auto& c : chunks)
    charged += static_cast<std::int64_t>(c->capacity());
  EXPECT_EQ(budget->available(), budget->limit() - charged);
  auto msgs = parse_all(chunks);
  std::size_t records = 0;
  std::uint32_t expected_sequence = 0;
  for (auto& m : msgs) {
    EXPECT_EQ(m.header.sequence, expected_sequence);
    expected_sequence += static_cast<std::uint32_t>(m.records.size());
    records += m.records.size();
  }
  EXPECT_EQ(records, static_cast<std::size_t>(n));
  chunks.clear();
  EXPECT_EQ(budget->available(), budget->limit()) << "released with the last holder";
}

TEST(flow_writer, a_stream_may_use_64_domains_and_no_more) {
  written w;
  auto f = full_flow();
  for (std::uint32_t d = 0; d < flow_writer::max_domains; ++d) {
    f.mutable_ipfix()->set_observation_domain_id(d);
    ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  }
  f.mutable_ipfix()->set_observation_domain_id(1000);
  EXPECT_EQ(w.writer.add(f, 1), flow_error::too_many_domains);
  f.mutable_ipfix()->set_observation_domain_id(3);
  EXPECT_EQ(w.writer.add(f, 1), flow_error::none);
}

// A request protobuf would refuse is refused whole: what its first Flows wrote (records,
// a new domain's templates, full chunks handed on, sequence numbers) is taken back, and
// the stream goes on as if it had never been read.
TEST(flow_writer, a_malformed_request_is_taken_back_whole) {
  auto serialize = [](const std::vector<pb::Flow>& flows) {
    pb::ExportRequest r;
    for (const auto& f : flows)
      *r.add_flows() = f;
    return r.SerializeAsString();
  };
  auto a = full_flow();
  auto b = full_flow(true);
  b.mutable_ipfix()->set_observation_domain_id(7);
  auto big = full_flow();
  big.mutable_k8s()->set_destination_service_port_name(std::string(2000, 'x'));
  const auto good1 = serialize({a, a, a});
  const auto good2 = serialize({a, b, a});
  // Far more than a chunk of records before the fault, and a domain of its own.
  std::vector<pb::Flow> many(60, big);
  many.push_back(b);
  const auto body = serialize(many);
  // Field 1 (flows) of an ExportRequest holding `flow` as octets.
  auto framed = [](const std::string& flow) {
    std::string out(1, '\x0a');
    for (auto n = flow.size();; n >>= 7) {
      out += static_cast<char>(n < 0x80 ? n : (n & 0x7f) | 0x80);
      if (n < 0x80)
        break;
    }
    return out + flow;
  };
  const std::vector<std::pair<const char*, std::string>> bad = {
      // The last Flow is not one: a field number 0 at its end.
      {"a malformed Flow", body + framed(a.SerializeAsString() + std::string("\x00\x01", 2))},
      // The request ends within its last Flow.
      {"a request cut short", body + framed(a.SerializeAsString()).substr(0, 10)},
      // Two Flows: the first goes to another domain, which ends the open message (the
      // only change to a domain's sequence number), the second is malformed.
      {"a new domain, then a malformed Flow",
       serialize({b}) + framed(a.SerializeAsString() + std::string("\x00\x01", 2))},
  };
  for (const auto& [what, request] : bad)
    ASSERT_FALSE(pb::ExportRequest{}.ParseFromString(request)) << what << ": the case is wrong";
  auto bytes_of = [](const std::vector<messages::chunk_ptr>& chunks) {
    std::string out;
    for (const auto& c : chunks)
      out.append(reinterpret_cast<const char*>(c->bytes().data()), c->bytes().size());
    return out;
  };
  written want;
  ASSERT_TRUE(want.writer.add_request(good1, 1).ok);
  ASSERT_TRUE(want.writer.add_request(good2, 1).ok);
  want.writer.flush();
  for (const auto& [what, request] : bad) {
    written got;
    ASSERT_TRUE(got.writer.add_request(good1, 1).ok) << what;
    const auto r = got.writer.add_request(request, 1);
    EXPECT_FALSE(r.ok) << what;
    EXPECT_EQ(r.flows, 0u) << what;
    EXPECT_TRUE(got.chunks.empty()) << what << ": nothing of it is handed on";
    ASSERT_TRUE(got.writer.add_request(good2, 1).ok) << what;
    got.writer.flush();
    EXPECT_EQ(got.chunks.size(), want.chunks.size()) << what;
    EXPECT_EQ(bytes_of(got.chunks), bytes_of(want.chunks)) << what;
    got.chunks.clear();
    EXPECT_EQ(got.budgets.session->available(), got.budgets.session->limit())
        << what << ": the dropped chunks' credits are released";
  }
}

// egressIP travels as text; an IPv4 address is written without inet_ntop: every octet
// value in every position must read as inet_ntop writes it.
TEST(flow_codec, egress_ip_text_is_inet_ntops) {
  for (int pos = 0; pos < 4; ++pos)
    for (int v = 0; v < 256; ++v) {
      std::string raw = v4("10.201.7.99");
      raw[static_cast<std::size_t>(pos)] = static_cast<char>(v);
      char want[INET_ADDRSTRLEN];
      ASSERT_NE(::inet_ntop(AF_INET, raw.data(), want, sizeof want), nullptr);
      auto f = full_flow();
      f.mutable_k8s()->set_egress_ip(raw);
      written w;
      ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
      w.writer.flush();
      auto r = by_name(flow_template(false), parse_all(w.chunks).at(0).records.at(0).second);
      ASSERT_EQ(r["egressIP"], want) << pos << " " << v;
    }
}

TEST(flow_codec, a_uid_that_is_not_a_uuid_is_all_zeros) {
  auto f = full_flow();
  f.mutable_k8s()->set_source_pod_uid("not-a-uuid");
  f.mutable_k8s()->set_destination_pod_uid("0B1F3A52-1C1E-4B9E-9A53-6C7D2A1E0F11");
  written w;
  ASSERT_EQ(w.writer.add(f, 1), flow_error::none);
  w.writer.flush();
  auto r = by_name(flow_template(false), parse_all(w.chunks).at(0).records.at(0).second);
  EXPECT_EQ(r["sourcePodUUID"], std::string(16, '\0'));
  EXPECT_EQ(r["destinationPodUUID"], uuid_bytes("0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"));
}

TEST(flow_writer, without_uids_the_records_leave_the_nine_uuid_elements_out) {
  // Antrea's includeK8sUIDs false (its default; antrea-aggregate-semantics.md f.2 "UID and
  // name switches"): the same record without sourcePodUUID .. egressNodeUUID.
  const auto& with = flow_template(false, true);
  const auto& without = flow_template(false, false);
  EXPECT_EQ(with.fields.size(), without.fields.size() + 9);
  for (const auto& fs : without.fields)
    EXPECT_FALSE(ipfix::element_name(fs.enterprise, fs.id).ends_with("UUID"))
        << ipfix::element_name(fs.enterprise, fs.id);
  for (bool v6 : {false, true}) {
    auto f = full_flow(v6);
    written full;
    std::vector<messages::chunk_ptr> chunks;
    wire_writer writer{full.budgets, [&](messages::chunk_ptr c) { chunks.push_back(std::move(c)); },
                       false};
    ASSERT_EQ(full.writer.add(f, 1), flow_error::none);
    ASSERT_EQ(writer.add(f, 1), flow_error::none);
    full.writer.flush();
    writer.flush();
    auto a = parse_all(full.chunks);
    auto b = parse_all(chunks);
    ASSERT_EQ(b.size(), 1u);
    ASSERT_EQ(b[0].templates.size(), 2u);
    EXPECT_EQ(b[0].templates[0], flow_template(false, false));
    EXPECT_EQ(b[0].templates[1], flow_template(true, false));
    ASSERT_EQ(b[0].records.size(), 1u);
    EXPECT_EQ(b[0].records[0].second.size() + 9 * 16, a[0].records[0].second.size());
    auto ra = by_name(flow_template(v6, true), a[0].records[0].second);
    auto rb = by_name(flow_template(v6, false), b[0].records[0].second);
    for (auto& [name, value] : ra)
      if (name.ends_with("UUID"))
        EXPECT_FALSE(rb.count(name)) << name;
      else
        EXPECT_EQ(rb[name], value) << name;
    // The flow stream reads it back: everything but the UIDs.
    pb::Flow back;
    flow_decoder{flow_template(v6, false)}.decode(b[0].records[0].second, back);
    auto want = expected_back(f);
    auto* k = want.mutable_k8s();
    for (auto* uid : {k->mutable_source_pod_uid(), k->mutable_source_node_uid(),
                      k->mutable_destination_pod_uid(), k->mutable_destination_node_uid(),
                      k->mutable_destination_service_uid(), k->mutable_ingress_network_policy_uid(),
                      k->mutable_egress_network_policy_uid(), k->mutable_egress_uid(),
                      k->mutable_egress_node_uid()})
      uid->clear();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, back))
        << back.DebugString();
  }
}

TEST(flow_decoder, labels_json_absent_empty_and_escaped) {
  pb::Labels l;
  EXPECT_TRUE(parse_labels(R"({"app":"iperf","antrea-e2e":"perftest-a"})", l));
  EXPECT_EQ(l.labels().at("app"), "iperf");
  EXPECT_EQ(l.labels().at("antrea-e2e"), "perftest-a");
  pb::Labels e;
  EXPECT_TRUE(parse_labels("{}", e));
  EXPECT_TRUE(e.labels().empty());
  pb::Labels x;
  EXPECT_TRUE(parse_labels(R"({"k":"a\"b\\c\u003c\u00e9\ud83d\ude00"})", x));
  EXPECT_EQ(x.labels().at("k"), "a\"b\\c<\xc3\xa9\xf0\x9f\x98\x80");
  pb::Labels bad;
  EXPECT_FALSE(parse_labels(R"({"k":1})", bad));
  EXPECT_FALSE(parse_labels(R"({"k":"v")", bad));
}

TEST(flow_decoder, enrichment_elements_fill_labels_exporter_and_direction) {
  // The agent's template plus what the enricher appends (antrea-proxy-semantics.md 2).
  auto def = flow_template(false);
  def.fields.push_back({143, ipfix::varlen, ipfix::antrea_pen}); // sourcePodLabels
  def.fields.push_back({144, ipfix::varlen, ipfix::antrea_pen}); // destinationPodLabels
  def.fields.push_back({158, ipfix::varlen, ipfix::antrea_pen}); // clusterId
  def.fields.push_back({405, 4, 0});                             // originalObservationDomainId
  def.fields.push_back({403, 4, 0});                             // originalExporterIPv4Address
  def.fields.push_back({404, 16, 0});                            // originalExporterIPv6Address
  def.fields.push_back({61, 1, 0});                              // flowDirection
  std::string bytes;
  auto f = from_wire(full_flow(), bytes);
  record_plan plan;
  ASSERT_EQ(measure(f, plan), flow_error::none);
  std::vector<std::uint8_t> rec(plan.size);
  encode(f, plan, rec.data());
  auto put = [&](std::string_view s) {
    rec.push_back(static_cast<std::uint8_t>(s.size()));
    rec.insert(rec.end(), s.begin(), s.end());
  };
  put(R"({"app":"web"})");
  put("");
  put("cluster-1");
  for (std::uint8_t b : {0, 0, 0, 9})
    rec.push_back(b);
  for (std::uint8_t b : {192, 0, 2, 1})
    rec.push_back(b);
  rec.insert(rec.end(), 16, 0);
  rec.push_back(1);
  pb::Flow back;
  flow_decoder{def}.decode(rec, back);
  ASSERT_TRUE(back.k8s().has_source_pod_labels());
  EXPECT_EQ(back.k8s().source_pod_labels().labels().at("app"), "web");
  EXPECT_FALSE(back.k8s().has_destination_pod_labels()) << "\"\" = unknown, no Labels";
  EXPECT_EQ(back.ipfix().observation_domain_id(), 9u);
  EXPECT_EQ(back.ipfix().exporter_ip(), "192.0.2.1");
  EXPECT_EQ(back.flow_direction(), pb::FLOW_DIRECTION_EGRESS);
}

} // namespace
} // namespace fa::rpc
