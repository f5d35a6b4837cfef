#include "test/flows/flow_test_util.hpp"

#include <gtest/gtest.h>

namespace fa::flows::test {
namespace {

std::vector<std::string> names_of(const std::vector<ipfix::field_spec>& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields)
    out.push_back(ipfix::element_name(f.enterprise, f.id));
  return out;
}

class aggregate_layout_test : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(family, aggregate_layout_test, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ipv6" : "ipv4"; });

// Reference f.2: the agent's elements in its order, the 24 aggregation elements in the
// template order of v2.3 / v2.7, then the enricher's appended elements.
TEST_P(aggregate_layout_test, output_template_is_agent_then_aggregation_then_appended) {
  const bool v6 = GetParam();
  auto l = layout_of(enriched_def(v6));
  auto agent = agent_fields_v27(v6);
  EXPECT_EQ(l->agent_fields, agent.size());
  std::vector<std::string> want = agent;
  for (auto n : {"octetDeltaCountFromSourceNode",
                 "octetDeltaCountFromDestinationNode",
                 "octetTotalCountFromSourceNode",
                 "octetTotalCountFromDestinationNode",
                 "packetDeltaCountFromSourceNode",
                 "packetDeltaCountFromDestinationNode",
                 "packetTotalCountFromSourceNode",
                 "packetTotalCountFromDestinationNode",
                 "reverseOctetDeltaCountFromSourceNode",
                 "reverseOctetDeltaCountFromDestinationNode",
                 "reverseOctetTotalCountFromSourceNode",
                 "reverseOctetTotalCountFromDestinationNode",
                 "reversePacketDeltaCountFromSourceNode",
                 "reversePacketDeltaCountFromDestinationNode",
                 "reversePacketTotalCountFromSourceNode",
                 "reversePacketTotalCountFromDestinationNode",
                 "flowEndSecondsFromSourceNode",
                 "flowEndSecondsFromDestinationNode",
                 "throughput",
                 "throughputFromSourceNode",
                 "throughputFromDestinationNode",
                 "reverseThroughput",
                 "reverseThroughputFromSourceNode",
                 "reverseThroughputFromDestinationNode"})
    want.push_back(n);
  for (auto& n : appended_fields())
    want.push_back(n);
  EXPECT_EQ(names_of(l->output.fields), want);
  EXPECT_EQ(l->output.id, 0u) << "interned by the user";
  // Lengths come from the registry (reference f.4).
  for (const auto& f : aggregation_specs())
    EXPECT_EQ(f.length, ipfix::find_element(f.enterprise, f.id)->length);
  std::size_t block = 0;
  for (const auto& f : aggregation_specs())
    block += f.length;
  EXPECT_EQ(block, aggregation_block_size);
}

TEST_P(aggregate_layout_test, finds_every_field_the_rules_read) {
  const bool v6 = GetParam();
  auto def = enriched_def(v6);
  auto l = layout_of(def);
  auto name = [&](field_index i) {
    EXPECT_GE(i, 0);
    return i < 0 ? std::string{}
                 : ipfix::element_name(def.fields[static_cast<std::size_t>(i)].enterprise,
                                       def.fields[static_cast<std::size_t>(i)].id);
  };
  std::string f = v6 ? "IPv6" : "IPv4";
  EXPECT_EQ(name(v6 ? l->source_ipv6 : l->source_ipv4), "source" + f + "Address");
  EXPECT_EQ(name(v6 ? l->destination_ipv6 : l->destination_ipv4), "destination" + f + "Address");
  EXPECT_EQ(name(l->source_port), "sourceTransportPort");
  EXPECT_EQ(name(l->destination_port), "destinationTransportPort");
  EXPECT_EQ(name(l->protocol), "protocolIdentifier");
  EXPECT_EQ(name(l->flow_type), "flowType");
  EXPECT_EQ(name(l->flow_start_seconds), "flowStartSeconds");
  EXPECT_EQ(name(l->flow_end_seconds), "flowEndSeconds");
  EXPECT_EQ(name(l->flow_end_reason), "flowEndReason");
  EXPECT_EQ(name(l->tcp_state), "tcpState");
  EXPECT_EQ(name(l->ingress_rule_action), "ingressNetworkPolicyRuleAction");
  EXPECT_EQ(name(l->egress_rule_action), "egressNetworkPolicyRuleAction");
  EXPECT_EQ(name(l->source_pod_name), "sourcePodName");
  EXPECT_EQ(name(l->destination_pod_name), "destinationPodName");
  EXPECT_EQ(name(v6 ? l->proxy_snat_ipv6 : l->proxy_snat_ipv4), "proxySnat" + f);
  EXPECT_EQ(name(l->proxy_snat_port), "proxySnatPort");
  const char* counters[] = {"packetTotalCount",        "octetTotalCount",
                            "packetDeltaCount",        "octetDeltaCount",
                            "reversePacketTotalCount", "reverseOctetTotalCount",
                            "reversePacketDeltaCount", "reverseOctetDeltaCount"};
  for (std::size_t c = 0; c < num_counters; ++c)
    EXPECT_EQ(name(l->counters[c]), counters[c]);
  EXPECT_TRUE(l->tcp_state_apart);
  // Reference c (HEAD's list present in the template) plus the labels.
  EXPECT_EQ(l->correlated.size(), 22u);
  EXPECT_EQ(l->from_external.size(), 5u);
  EXPECT_EQ(l->source_observation.size(), 4u);
}

TEST(aggregate_layout, appended_start_recognises_the_enricher_suffix) {
  auto agent = agent_fields_v27(false);
  auto with = [&](std::vector<std::string> tail) {
    auto n = agent;
    n.insert(n.end(), tail.begin(), tail.end());
    return appended_start(make_def(n));
  };
  EXPECT_EQ(with({}), agent.size());
  EXPECT_EQ(with({"clusterId"}), agent.size());
  EXPECT_EQ(with({"originalObservationDomainId", "originalExporterIPv4Address",
                  "originalExporterIPv6Address"}),
            agent.size());
  EXPECT_EQ(with({"sourcePodLabels", "destinationPodLabels", "clusterId", "flowDirection"}),
            agent.size());
  // Out of the enricher's order: only the well-ordered tail counts as appended.
  EXPECT_EQ(with({"flowDirection", "clusterId"}), agent.size() + 1);
  // A minimal template that is all provenance is all appended.
  EXPECT_EQ(appended_start(make_def({"originalObservationDomainId"})), 0u);
}

TEST_P(aggregate_layout_test, record_key_of_the_ingress_half_is_the_snat_one) {
  const bool v6 = GetParam();
  auto def = enriched_def(v6);
  auto l = layout_of(def);
  std::string f = v6 ? "IPv6" : "IPv4";
  auto key_of = [&](const values& v, bool& half) {
    auto rec = v.encode(def);
    std::vector<ipfix::field_slice> varlen(l->record.num_varlen());
    ipfix::parse_error err = ipfix::parse_error::none;
    EXPECT_EQ(l->record.walk_varlen(rec, varlen, err), rec.size());
    return record_key(*l, rec, varlen, &half);
  };
  values v;
  v.set("source" + f + "Address", v6 ? "2001:db8:ff::1" : "172.18.0.1")
      .set("destination" + f + "Address", v6 ? "fd00::3" : "10.244.1.3")
      .set("sourceTransportPort", 38746)
      .set("destinationTransportPort", 80)
      .set("protocolIdentifier", 6)
      .set("flowType", flow_type::from_external)
      .set("proxySnat" + f, v6 ? "fd00::2:1" : "10.244.2.1")
      .set("proxySnatPort", 52391);
  bool half = false;
  auto k = key_of(v, half);
  EXPECT_TRUE(half);
  EXPECT_EQ(k.source, address_of(v6 ? "fd00::2:1" : "10.244.2.1"));
  EXPECT_EQ(k.source_port, 52391);
  EXPECT_EQ(k.destination, address_of(v6 ? "fd00::3" : "10.244.1.3"));
  EXPECT_EQ(k.destination_port, 80);
  EXPECT_EQ(k.protocol, 6);
  // With the destination Pod known it is the destination Node's own record: natural key.
  v.set("destinationPodName", "web");
  k = key_of(v, half);
  EXPECT_FALSE(half);
  EXPECT_EQ(k.source_port, 38746);
  EXPECT_EQ(k.source, address_of(v6 ? "2001:db8:ff::1" : "172.18.0.1"));
}

TEST(aggregate_layout, explicit_agent_field_count_wins) {
  auto l = make_aggregate_layout(enriched_def(false), 10);
  EXPECT_EQ(l->agent_fields, 10u);
  EXPECT_EQ(l->output.fields[10].id, 123);
}

TEST(aggregate_layout, templates_that_are_not_aggregated_say_why) {
  auto why = [](const ipfix::template_def& d) {
    auto l = make_aggregate_layout(d);
    EXPECT_FALSE(l->aggregatable);
    return std::string(l->why_not);
  };
  auto without = [](const std::string& name) {
    auto n = agent_fields_v27(false);
    std::erase(n, name);
    return make_def(n);
  };
  EXPECT_EQ(why(make_def({"sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort"})),
            "no Antrea element");
  auto options = enriched_def(false);
  options.scope_count = 1;
  EXPECT_EQ(why(options), "options template");
  EXPECT_EQ(why(without("flowType")), "no flowType");
  EXPECT_EQ(why(without("sourceIPv4Address")), "no source and destination address of one family");
  EXPECT_EQ(why(without("protocolIdentifier")), "no transport ports or protocol");
  EXPECT_EQ(why(without("flowStartSeconds")), "no flowStartSeconds or flowStartMilliseconds");
  EXPECT_EQ(why(without("flowEndSeconds")), "no flowEndSeconds or flowEndMilliseconds");
  auto reduced = enriched_def(false);
  for (auto& f : reduced.fields)
    if (f.enterprise == 0 && f.id == 1)
      f.length = 4; // octetDeltaCount in 4 octets (RFC 7011 6.2)
  EXPECT_EQ(why(reduced), "reduced-size counter");
  auto aggregated = enriched_def(false);
  aggregated.fields.push_back(spec("throughput"));
  EXPECT_EQ(why(aggregated), "already carries aggregation elements");
  auto huge = enriched_def(false);
  while (huge.fields.size() < 8200)
    huge.fields.push_back({999, 4, ipfix::antrea_pen});
  EXPECT_EQ(why(huge), "output template too large");
}

TEST(aggregate_layout, milliseconds_stand_in_for_seconds) {
  auto n = agent_fields_v27(false);
  std::replace(n.begin(), n.end(), std::string("flowStartSeconds"),
               std::string("flowStartMilliseconds"));
  std::replace(n.begin(), n.end(), std::string("flowEndSeconds"),
               std::string("flowEndMilliseconds"));
  auto l = layout_of(make_def(n));
  EXPECT_GE(l->flow_start_milliseconds, 0);
  EXPECT_GE(l->flow_end_milliseconds, 0);
  EXPECT_LT(l->flow_end_seconds, 0);
}

// The stored form: fixed fields at fixed offsets, strings but tcpState in one string,
// and the output record as segments in template order.
TEST(aggregate_layout, stored_form_and_output_segments) {
  auto def = make_def({"flowStartSeconds", "sourcePodName", "tcpState", "flowType",
                       "destinationPodName", "sourceIPv4Address", "destinationIPv4Address",
                       "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
                       "flowEndSeconds", "clusterId", "flowDirection"});
  auto l = layout_of(def);
  EXPECT_EQ(l->agent_fields, 11u);
  EXPECT_EQ(l->fixed_size, 4u + 1 + 4 + 4 + 2 + 2 + 1 + 4 + 1);
  EXPECT_EQ(l->num_strings, 3u) << "the two Pod names and clusterId; tcpState apart";
  EXPECT_EQ(l->compact_offsets[3], 4) << "flowType follows flowStartSeconds in the fixed area";
  EXPECT_EQ(l->string_ranks[4], 1);
  EXPECT_EQ(l->string_ranks[2], -1);
  EXPECT_EQ(l->tcp_state_rank, 1);
  using seg = aggregate_layout::segment;
  std::vector<std::pair<int, int>> got;
  for (const auto& s : l->segments)
    got.emplace_back(s.kind, s.count);
  std::vector<std::pair<int, int>> want = {
      {seg::fixed, 4},       {seg::strings, 1}, {seg::tcp_state, 0},
      {seg::fixed, 1},       {seg::strings, 1}, {seg::fixed, 4 + 4 + 2 + 2 + 1 + 4},
      {seg::aggregation, 0}, {seg::strings, 1}, {seg::fixed, 1}};
  EXPECT_EQ(got, want);
  // Runs of fixed fields of a received record, after the variable-length value `after`.
  ASSERT_EQ(l->fixed_runs.size(), 4u);
  EXPECT_EQ(l->fixed_runs[0].after, -1);
  EXPECT_EQ(l->fixed_runs[1].after, 1);
  EXPECT_EQ(l->fixed_runs[2].after, 2);
  EXPECT_EQ(l->fixed_runs[2].length, 17);
  EXPECT_EQ(l->fixed_runs[3].after, 3);
}

TEST(aggregate_layout, strings_of_the_stored_form) {
  bytes s;
  ipfix::message_builder b(s);
  b.put_string("a");
  b.put_string("");
  b.put_string(std::string(300, 'x'));
  b.put_string("tail");
  EXPECT_EQ(string_value(s, 0).size(), 1u);
  EXPECT_EQ(string_value(s, 1).size(), 0u);
  EXPECT_EQ(string_value(s, 2).size(), 300u);
  EXPECT_EQ(string_value(s, 3)[0], 't');
  EXPECT_EQ(strings_length(s, 3), 2u + 1 + 303);
  EXPECT_EQ(strings_length(s, 4), s.size());
}

} // namespace
} // namespace fa::flows::test
