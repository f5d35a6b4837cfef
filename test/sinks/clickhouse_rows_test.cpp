// ClickHouse rows (sinks/clickhouse_rows.hpp): the INSERT, the CREATE TABLE, RowBinary
// and JSONEachRow rows of a known record, and the column type check.

#include "sinks/clickhouse_rows.hpp"
#include "test/sinks/record_builder.hpp"

#include <gtest/gtest.h>

using namespace fa::sinks;

namespace {

std::string row_of(const std::vector<test::field>& fields, clickhouse_format f,
                   std::string cluster = "c-1") {
  auto p = test::payload({fields});
  flow_plan plan{p->sets[0].tmpl->def};
  flow_view view{std::move(cluster)};
  std::string out;
  view.for_each(plan, {p->bytes.data(), p->bytes.size()},
                [&](const flow_view& v) { append_row(out, v, f); });
  return out;
}

/// Reads RowBinary back by the format's rules (little-endian, DateTime as UInt32,
/// String as LEB128 length + bytes), as text per column.
std::vector<std::string> decode_row_binary(const std::string& row) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  auto take_le = [&](int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= std::uint64_t{static_cast<unsigned char>(row.at(pos++))} << (8 * i);
    return v;
  };
  for (auto c : clickhouse_columns()) {
    switch (info(c).type) {
    case column_type::date_time:
      out.push_back(std::to_string(take_le(4)));
      break;
    case column_type::uint8:
      out.push_back(std::to_string(take_le(1)));
      break;
    case column_type::uint16:
      out.push_back(std::to_string(take_le(2)));
      break;
    case column_type::uint64:
      out.push_back(std::to_string(take_le(8)));
      break;
    case column_type::string: {
      std::uint64_t len = 0;
      for (int shift = 0;; shift += 7) {
        auto b = static_cast<unsigned char>(row.at(pos++));
        len |= std::uint64_t{b & 0x7fu} << shift;
        if ((b & 0x80) == 0)
          break;
      }
      out.push_back(row.substr(pos, len));
      pos += len;
      break;
    }
    }
  }
  EXPECT_EQ(pos, row.size()) << "trailing octets";
  return out;
}

// The known record's 51 values, in insert order.
const std::vector<std::string> known_values{"1700000000",
                                            "1700000060",
                                            "0",
                                            "0",
                                            "3",
                                            "10.10.0.5",
                                            "10.10.1.7",
                                            "43512",
                                            "5201",
                                            "6",
                                            "1000",
                                            "1500000",
                                            "100",
                                            "150000",
                                            "900",
                                            "60000",
                                            "90",
                                            "6000",
                                            "iperf-client",
                                            "antrea-test",
                                            "k8s-node-1",
                                            "iperf-server",
                                            "antrea-test",
                                            "k8s-node-2",
                                            "10.96.0.10",
                                            "5201",
                                            "antrea-test/iperf:tcp",
                                            "allow-iperf",
                                            "antrea-test",
                                            "rule1",
                                            "1",
                                            "2",
                                            "",
                                            "",
                                            "",
                                            "0",
                                            "0",
                                            "ESTABLISHED",
                                            "2",
                                            R"({"antrea-e2e":"perftest-a","app":"iperf"})",
                                            "{}",
                                            "0",
                                            "0",
                                            "0",
                                            "0",
                                            "0",
                                            "0",
                                            "c-1",
                                            "egress-a",
                                            "172.18.0.3",
                                            "k8s-node-3"};

TEST(clickhouse_rows, row_binary_holds_every_column_in_order) {
  auto row = row_of(test::antrea_record(), clickhouse_format::row_binary);
  EXPECT_EQ(decode_row_binary(row), known_values);
  // A string of 200 octets takes a two-octet LEB128 length.
  auto long_row = row_of({{"sourcePodName", std::string(200, 'x')}}, clickhouse_format::row_binary);
  auto values = decode_row_binary(long_row);
  EXPECT_EQ(values[18], std::string(200, 'x'));
}

// The compiled RowBinary writer gives the very octets of the simple one, record shape by
// record shape: absent columns, IPv6 and IPv4-mapped addresses, all-zero cluster IPs,
// address text, millisecond times, reduced-size integers (RFC 7011 6.2), long strings.
TEST(clickhouse_rows, the_row_binary_program_writes_what_append_row_writes) {
  auto aggregated = test::antrea_record(7);
  for (auto& f : test::aggregation_fields())
    aggregated.push_back(f);
  std::vector<std::vector<test::field>> shapes{
      test::antrea_record(),
      aggregated,
      {{"sourceIPv6Address", std::string{"ip:fd00::5"}},
       {"destinationIPv6Address", std::string{"ip:::ffff:10.0.0.1"}},
       {"destinationClusterIPv6", std::string{"ip:::"}},
       {"egressIP", std::string{"fd00:0::1"}},
       {"flowStartMilliseconds", std::uint64_t{1700000000123}}},
      {{"destinationClusterIPv4", std::string{"ip:0.0.0.0"}},
       {"sourcePodLabels", std::string(300, 'l')},
       {"egressIP", std::string{"nonsense"}}},
      {{"octetDeltaCount", std::uint64_t{42}}},
  };
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    auto p = test::payload({shapes[i]});
    flow_plan plan{p->sets[0].tmpl->def};
    row_binary_program program{plan, "c-1"};
    flow_view view{"c-1"};
    std::string simple, compiled = "prefix";
    view.for_each(plan, {p->bytes.data(), p->bytes.size()}, [&](const flow_view& v) {
      append_row(simple, v, clickhouse_format::row_binary);
      program.append(compiled, v);
    });
    EXPECT_EQ("prefix" + simple, compiled) << "shape " << i;
  }
  // Reduced-size encoding: a 2-octet packetTotalCount and a 1-octet port.
  fa::ipfix::template_def def;
  def.fields = {{86, 2, 0}, {7, 1, 0}, {101, fa::ipfix::varlen, 56506}};
  std::vector<std::uint8_t> rec{0x01, 0x02, 0x07, 3, 'a', 'b', 'c'};
  flow_plan plan{def};
  row_binary_program program{plan, ""};
  flow_view view;
  std::string simple, compiled;
  view.for_each(plan, {rec.data(), rec.size()}, [&](const flow_view& v) {
    append_row(simple, v, clickhouse_format::row_binary);
    program.append(compiled, v);
  });
  EXPECT_EQ(simple, compiled);
  auto values = decode_row_binary(compiled);
  EXPECT_EQ(values[10], "258");
  EXPECT_EQ(values[7], "7");
  EXPECT_EQ(values[18], "abc");
}

TEST(clickhouse_rows, json_each_row_is_one_object_per_line) {
  auto row = row_of(test::antrea_record(), clickhouse_format::json_each_row);
  EXPECT_EQ(
      row,
      R"({"flowStartSeconds":1700000000,"flowEndSeconds":1700000060,"flowEndSecondsFromSourceNode":0,)"
      R"("flowEndSecondsFromDestinationNode":0,"flowEndReason":3,"sourceIP":"10.10.0.5",)"
      R"("destinationIP":"10.10.1.7","sourceTransportPort":43512,"destinationTransportPort":5201,)"
      R"("protocolIdentifier":6,"packetTotalCount":1000,"octetTotalCount":1500000,)"
      R"("packetDeltaCount":100,"octetDeltaCount":150000,"reversePacketTotalCount":900,)"
      R"("reverseOctetTotalCount":60000,"reversePacketDeltaCount":90,"reverseOctetDeltaCount":6000,)"
      R"("sourcePodName":"iperf-client","sourcePodNamespace":"antrea-test",)"
      R"("sourceNodeName":"k8s-node-1","destinationPodName":"iperf-server",)"
      R"("destinationPodNamespace":"antrea-test","destinationNodeName":"k8s-node-2",)"
      R"("destinationClusterIP":"10.96.0.10","destinationServicePort":5201,)"
      R"("destinationServicePortName":"antrea-test/iperf:tcp","ingressNetworkPolicyName":"allow-iperf",)"
      R"("ingressNetworkPolicyNamespace":"antrea-test","ingressNetworkPolicyRuleName":"rule1",)"
      R"("ingressNetworkPolicyRuleAction":1,"ingressNetworkPolicyType":2,"egressNetworkPolicyName":"",)"
      R"("egressNetworkPolicyNamespace":"","egressNetworkPolicyRuleName":"",)"
      R"("egressNetworkPolicyRuleAction":0,"egressNetworkPolicyType":0,"tcpState":"ESTABLISHED",)"
      R"("flowType":2,"sourcePodLabels":"{\"antrea-e2e\":\"perftest-a\",\"app\":\"iperf\"}",)"
      R"("destinationPodLabels":"{}","throughput":0,"reverseThroughput":0,)"
      R"("throughputFromSourceNode":0,"throughputFromDestinationNode":0,)"
      R"("reverseThroughputFromSourceNode":0,"reverseThroughputFromDestinationNode":0,)"
      R"("clusterUUID":"c-1","egressName":"egress-a","egressIP":"172.18.0.3",)"
      R"("egressNodeName":"k8s-node-3"})"
      "\n");
}

TEST(clickhouse_rows, insert_names_antreas_columns) {
  auto q = insert_statement("flows", clickhouse_format::row_binary);
  EXPECT_TRUE(q.starts_with("INSERT INTO flows (flowStartSeconds, flowEndSeconds, ")) << q;
  EXPECT_TRUE(q.ends_with("egressName, egressIP, egressNodeName) FORMAT RowBinary")) << q;
  EXPECT_EQ(q.find("timeInserted"), std::string::npos) << "left to its DEFAULT";
  EXPECT_EQ(q.find("trusted"), std::string::npos);
  EXPECT_TRUE(
      insert_statement("t", clickhouse_format::json_each_row).ends_with("FORMAT JSONEachRow"));
}

TEST(clickhouse_rows, create_table_has_the_e2e_schema_without_ttl) {
  auto q = create_table_statement("db1", "flows2");
  EXPECT_TRUE(q.starts_with("CREATE TABLE IF NOT EXISTS db1.flows2\n(\n    timeInserted DateTime "
                            "DEFAULT now(),\n    flowStartSeconds DateTime,\n"))
      << q;
  EXPECT_NE(
      q.find("    clusterUUID String,\n    trusted UInt8 DEFAULT 0,\n    egressName String,\n"),
      std::string::npos)
      << q;
  EXPECT_NE(q.find("    egressNodeName String\n)\nENGINE = MergeTree()\n"), std::string::npos) << q;
  EXPECT_EQ(q.find("TTL"), std::string::npos) << "TTL needs 19.6";
  EXPECT_EQ(std::count(q.begin(), q.end(), '\n'), 1 + 1 + 53 + 1 + 3) << q;
}

TEST(clickhouse_rows, plain_identifiers) {
  EXPECT_TRUE(plain_identifier("flows"));
  EXPECT_TRUE(plain_identifier("_a1"));
  EXPECT_FALSE(plain_identifier(""));
  EXPECT_FALSE(plain_identifier("1a"));
  EXPECT_FALSE(plain_identifier("a-b"));
  EXPECT_FALSE(plain_identifier("a;DROP"));
}

TEST(clickhouse_rows, column_types_must_have_our_binary_form) {
  std::vector<std::pair<std::string, std::string>> table{
      {"timeInserted", "DateTime"},
      {"flowStartSeconds", "DateTime('UTC')"},
      {"sourceIP", "LowCardinality(String)"},
      {"sourceTransportPort", "UInt16"},
      {"trusted", "UInt8"},
      {"extra", "Array(String)"},
  };
  EXPECT_EQ(check_column_types(table), std::nullopt)
      << "compatible, extra and missing columns are fine";
  table.emplace_back("destinationTransportPort", "UInt32");
  table.emplace_back("flowEndSeconds", "DateTime64(3)");
  EXPECT_EQ(check_column_types(table),
            "flowEndSeconds is DateTime64(3), expected DateTime; destinationTransportPort is "
            "UInt32, expected UInt16");
}

} // namespace
