// The Antrea flow columns of a record (sinks/flow_record.hpp): every column from its
// element by name, the conversions of antrea-clickhouse-export.md 2.3, and the
// aggregation columns, 0 in proxy mode and filled when a record carries them.

#include "sinks/flow_record.hpp"
#include "sinks/template_cache.hpp"
#include "test/sinks/record_builder.hpp"
#include "test/support/varlen_values.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace fa::sinks;
using fa::sinks::test::field;

namespace {

/// Calls `check(view)` on the only record of `fields`, read by walking it and again by
/// the values the enricher hands over (enriched_payload varlen).
template <class F>
void with_view(const std::vector<field>& fields, F check, std::string cluster = "cluster-1") {
  auto p = test::payload({fields});
  flow_plan plan{p->sets[0].tmpl->def};
  flow_view view{cluster};
  auto n = view.for_each(plan, {p->bytes.data(), p->bytes.size()}, check);
  EXPECT_EQ(n, 1u);
  if (plan.layout().num_varlen() == 0)
    return; // fixed: nothing to hand over
  auto given = fa::test::with_values(*p);
  n = view.for_each(plan, {p->bytes.data(), p->bytes.size()}, check,
                    given->varlen_of(given->sets[0], plan.layout().num_varlen()));
  EXPECT_EQ(n, 1u);
}

TEST(flow_record, reads_every_column_of_an_antrea_record) {
  with_view(test::antrea_record(), [](const flow_view& v) {
    EXPECT_EQ(v.number(column::flow_start_seconds), 1700000000u);
    EXPECT_EQ(v.number(column::flow_end_seconds), 1700000060u);
    EXPECT_EQ(v.number(column::flow_end_reason), 3u);
    EXPECT_EQ(v.text(column::source_ip), "10.10.0.5");
    EXPECT_EQ(v.text(column::destination_ip), "10.10.1.7");
    EXPECT_EQ(v.number(column::source_transport_port), 43512u);
    EXPECT_EQ(v.number(column::destination_transport_port), 5201u);
    EXPECT_EQ(v.number(column::protocol_identifier), 6u);
    EXPECT_EQ(v.number(column::packet_total_count), 1000u);
    EXPECT_EQ(v.number(column::octet_total_count), 1500000u);
    EXPECT_EQ(v.number(column::packet_delta_count), 100u);
    EXPECT_EQ(v.number(column::octet_delta_count), 150000u);
    EXPECT_EQ(v.number(column::reverse_packet_total_count), 900u);
    EXPECT_EQ(v.number(column::reverse_octet_total_count), 60000u);
    EXPECT_EQ(v.number(column::reverse_packet_delta_count), 90u);
    EXPECT_EQ(v.number(column::reverse_octet_delta_count), 6000u);
    EXPECT_EQ(v.text(column::source_pod_name), "iperf-client");
    EXPECT_EQ(v.text(column::source_pod_namespace), "antrea-test");
    EXPECT_EQ(v.text(column::source_node_name), "k8s-node-1");
    EXPECT_EQ(v.text(column::destination_pod_name), "iperf-server");
    EXPECT_EQ(v.text(column::destination_pod_namespace), "antrea-test");
    EXPECT_EQ(v.text(column::destination_node_name), "k8s-node-2");
    EXPECT_EQ(v.text(column::destination_cluster_ip), "10.96.0.10");
    EXPECT_EQ(v.number(column::destination_service_port), 5201u);
    EXPECT_EQ(v.text(column::destination_service_port_name), "antrea-test/iperf:tcp");
    EXPECT_EQ(v.text(column::ingress_network_policy_name), "allow-iperf");
    EXPECT_EQ(v.text(column::ingress_network_policy_namespace), "antrea-test");
    EXPECT_EQ(v.text(column::ingress_network_policy_rule_name), "rule1");
    EXPECT_EQ(v.number(column::ingress_network_policy_rule_action), 1u);
    EXPECT_EQ(v.number(column::ingress_network_policy_type), 2u);
    EXPECT_EQ(v.text(column::egress_network_policy_name), "");
    EXPECT_EQ(v.number(column::egress_network_policy_rule_action), 0u);
    EXPECT_EQ(v.text(column::tcp_state), "ESTABLISHED");
    EXPECT_EQ(v.number(column::flow_type), 2u);
    EXPECT_EQ(v.text(column::source_pod_labels), R"({"antrea-e2e":"perftest-a","app":"iperf"})");
    EXPECT_EQ(v.text(column::destination_pod_labels), "{}");
    EXPECT_EQ(v.text(column::cluster_uuid), "cluster-1")
        << "the flow-aggregator's, not the record's";
    EXPECT_EQ(v.text(column::egress_name), "egress-a");
    EXPECT_EQ(v.text(column::egress_ip), "172.18.0.3");
    EXPECT_EQ(v.text(column::egress_node_name), "k8s-node-3");
    EXPECT_EQ(v.text(column::destination_service_ip), "10.96.0.10");
    // Proxy mode: no aggregation elements, so 0 (reference 2.2 columns 3, 4, 42-47).
    for (auto c :
         {column::flow_end_seconds_from_source_node, column::flow_end_seconds_from_destination_node,
          column::throughput, column::reverse_throughput, column::throughput_from_source_node,
          column::throughput_from_destination_node, column::reverse_throughput_from_source_node,
          column::reverse_throughput_from_destination_node})
      EXPECT_EQ(v.number(c), 0u) << info(c).name;
  });
}

TEST(flow_record, fills_the_aggregation_columns_from_their_elements) {
  auto fields = test::antrea_record();
  for (auto& f : test::aggregation_fields())
    fields.push_back(f);
  with_view(fields, [](const flow_view& v) {
    EXPECT_EQ(v.number(column::flow_end_seconds_from_source_node), 1700000059u);
    EXPECT_EQ(v.number(column::flow_end_seconds_from_destination_node), 1700000058u);
    EXPECT_EQ(v.number(column::throughput), 20000u);
    EXPECT_EQ(v.number(column::reverse_throughput), 800u);
    EXPECT_EQ(v.number(column::throughput_from_source_node), 20001u);
    EXPECT_EQ(v.number(column::throughput_from_destination_node), 19999u);
    EXPECT_EQ(v.number(column::reverse_throughput_from_source_node), 801u);
    EXPECT_EQ(v.number(column::reverse_throughput_from_destination_node), 799u);
  });
}

TEST(flow_record, prints_addresses_as_go_does) {
  with_view(
      {
          {"sourceIPv6Address", std::string{"ip:fd00:10:244::5"}},
          // Go's net.IP.String(): an IPv4-mapped address prints as IPv4.
          {"destinationIPv6Address", std::string{"ip:::ffff:10.1.2.3"}},
          // All zero: no Service (reference 2.2, column 25).
          {"destinationClusterIPv6", std::string{"ip:::"}},
          {"egressIP", std::string{"fd00:0:0:0:0:0:0:1"}},
      },
      [](const flow_view& v) {
        EXPECT_EQ(v.text(column::source_ip), "fd00:10:244::5");
        EXPECT_EQ(v.text(column::destination_ip), "10.1.2.3");
        EXPECT_EQ(v.text(column::destination_cluster_ip), "");
        EXPECT_EQ(v.text(column::egress_ip), "fd00::1") << "parsed and printed again";
      });
  with_view({{"egressIP", std::string{"not-an-ip"}},
             {"destinationClusterIPv4", std::string{"ip:0.0.0.0"}}},
            [](const flow_view& v) {
              EXPECT_EQ(v.text(column::egress_ip), "");
              EXPECT_EQ(v.text(column::destination_cluster_ip), "");
              EXPECT_EQ(v.text(column::source_ip), "") << "absent";
              EXPECT_EQ(v.number(column::octet_delta_count), 0u) << "absent";
            });
}

TEST(flow_record, converts_other_time_elements_to_seconds) {
  // RFC 7011 6.1.9: NTP seconds since 1900 in the high 32 bits.
  constexpr std::uint64_t ntp = (std::uint64_t{1700000060} + 2208988800u) << 32 | 0x80000000u;
  with_view({{"flowStartMilliseconds", std::uint64_t{1700000000999}}, {"flowEndNanoseconds", ntp}},
            [](const flow_view& v) {
              EXPECT_EQ(v.number(column::flow_start_seconds), 1700000000u);
              EXPECT_EQ(v.number(column::flow_end_seconds), 1700000060u);
            });
  // flowStartSeconds wins over the milliseconds when a template has both.
  with_view(
      {{"flowStartMilliseconds", std::uint64_t{5000}}, {"flowStartSeconds", std::uint64_t{7}}},
      [](const flow_view& v) { EXPECT_EQ(v.number(column::flow_start_seconds), 7u); });
}

TEST(flow_record, visits_every_record_of_a_set_and_stops_at_padding) {
  std::vector<std::vector<field>> records;
  for (std::uint64_t i = 0; i < 5; ++i)
    records.push_back(test::antrea_record(i));
  auto p = test::payload(records);
  auto bytes = p->bytes;
  bytes.push_back(0); // RFC 7011 3.3.1 padding
  bytes.push_back(0);
  flow_plan plan{p->sets[0].tmpl->def};
  flow_view view;
  std::vector<std::uint64_t> starts;
  view.for_each(plan, {bytes.data(), bytes.size()}, [&](const flow_view& v) {
    starts.push_back(v.number(column::flow_start_seconds));
  });
  EXPECT_EQ(starts, (std::vector<std::uint64_t>{1700000000, 1700000001, 1700000002, 1700000003,
                                                1700000004}));
  // By the values handed over: the same records; values that do not fit end the set there.
  auto given = fa::test::walked_values(plan.layout(), {p->bytes.data(), p->bytes.size()});
  const std::size_t nv = plan.layout().num_varlen();
  ASSERT_EQ(given.size(), 5 * nv);
  auto start_of = [&](const flow_view& v) {
    starts.push_back(v.number(column::flow_start_seconds));
  };
  starts.clear();
  EXPECT_EQ(view.for_each(plan, {bytes.data(), bytes.size()}, start_of, given), 5u);
  EXPECT_EQ(starts.size(), 5u);
  EXPECT_EQ(starts.back(), 1700000004u);
  given[3 * nv].offset += 1;
  starts.clear();
  EXPECT_EQ(view.for_each(plan, {bytes.data(), bytes.size()}, start_of, given), 3u);
  EXPECT_EQ(starts.size(), 3u);
}

TEST(flow_record, clickhouse_columns_are_antreas_fifty_one_in_order) {
  auto cols = clickhouse_columns();
  ASSERT_EQ(cols.size(), 51u);
  EXPECT_EQ(info(cols.front()).name, "flowStartSeconds");
  EXPECT_EQ(info(cols[47]).name, "clusterUUID");
  EXPECT_EQ(info(cols.back()).name, "egressNodeName");
}

TEST(template_cache, builds_a_plan_once_per_template_and_forgets_freed_ones) {
  template_cache<flow_plan> cache;
  int built = 0;
  auto make = [&](const fa::ipfix::template_def& def) {
    ++built;
    return flow_plan{def};
  };
  auto p = test::payload({test::antrea_record()});
  const auto& a = cache.get(p->sets[0].tmpl, make);
  EXPECT_EQ(&cache.get(p->sets[0].tmpl, make), &a);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(built, 1);
  // A template of another shape gets its own plan.
  auto q = test::payload({{{"octetDeltaCount", std::uint64_t{5}}}}, 300);
  const auto& b = cache.get(q->sets[0].tmpl, make);
  EXPECT_EQ(built, 2);
  EXPECT_NE(&a, &b);
  EXPECT_EQ(b.at(column::octet_delta_count).field, 0);
  EXPECT_EQ(b.at(column::source_ip).how, flow_plan::read::absent);
  // A freed template's plan is built again for whatever template comes next.
  auto first = p->sets[0].tmpl.get();
  p.reset();
  for (int i = 0; i < 70; ++i) // past the sweep threshold
    cache.get(test::payload({{{"octetDeltaCount", std::uint64_t{5}}}}, 300)->sets[0].tmpl, make);
  EXPECT_LT(cache.size(), 70u) << "expired entries were swept";
  (void)first;
}

} // namespace
