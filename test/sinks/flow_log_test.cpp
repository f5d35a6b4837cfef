// Flow-log lines and filters (sinks/flow_log_line.hpp; antrea-grpc-transport.md 6.1,
// 6.2), and the writer's filtering into a real file.

#include "sinks/flow_log_line.hpp"
#include "sinks/flow_log_writer.hpp"
#include "test/sinks/record_builder.hpp"
#include "test/support/process.hpp"

#include <gtest/gtest.h>

using namespace fa::sinks;

namespace {

std::string line_of(const std::vector<test::field>& fields, bool pretty) {
  auto p = test::payload({fields});
  flow_plan plan{p->sets[0].tmpl->def};
  flow_view view;
  std::string out;
  view.for_each(plan, {p->bytes.data(), p->bytes.size()},
                [&](const flow_view& v) { append_flow_log_line(out, v, pretty); });
  return out;
}

std::vector<test::field> with(std::vector<test::field> fields, const std::string& name,
                              std::uint64_t v) {
  for (auto& f : fields)
    if (f.name == name)
      f.v = v;
  return fields;
}

TEST(flow_log_line, antreas_thirty_columns_pretty) {
  EXPECT_EQ(line_of(test::antrea_record(), true),
            "1700000000,1700000060,10.10.0.5,10.10.1.7,43512,5201,TCP,iperf-client,antrea-test,"
            "k8s-node-1,iperf-server,antrea-test,k8s-node-2,10.96.0.10,10.96.0.10,5201,"
            "antrea-test/iperf:tcp,allow-iperf,antrea-test,rule1,Allow,AntreaNetworkPolicy,,,,,,"
            "egress-a,172.18.0.3,k8s-node-3\n");
}

TEST(flow_log_line, antreas_thirty_columns_as_numbers) {
  EXPECT_EQ(line_of(test::antrea_record(), false),
            "1700000000,1700000060,10.10.0.5,10.10.1.7,43512,5201,6,iperf-client,antrea-test,"
            "k8s-node-1,iperf-server,antrea-test,k8s-node-2,10.96.0.10,10.96.0.10,5201,"
            "antrea-test/iperf:tcp,allow-iperf,antrea-test,rule1,1,2,,,,0,0,"
            "egress-a,172.18.0.3,k8s-node-3\n");
}

TEST(flow_log_line, pretty_names_follow_antreas_tables) {
  auto r = with(with(with(with(with(test::antrea_record(), "protocolIdentifier", 132),
                               "ingressNetworkPolicyRuleAction", 3),
                          "ingressNetworkPolicyType", 1),
                     "egressNetworkPolicyRuleAction", 2),
                "egressNetworkPolicyType", 3);
  auto line = line_of(r, true);
  EXPECT_NE(line.find(",SCTP,"), std::string::npos) << line;
  EXPECT_NE(line.find(",rule1,Reject,K8sNetworkPolicy,,,,Drop,AntreaClusterNetworkPolicy,"),
            std::string::npos)
      << line;
  // Unknown values; 4 (K8s cluster-scoped policy) is "Invalid" as Antrea prints it.
  r = with(with(with(test::antrea_record(), "protocolIdentifier", 99),
                "ingressNetworkPolicyRuleAction", 7),
           "ingressNetworkPolicyType", 4);
  line = line_of(r, true);
  EXPECT_NE(line.find(",Unknown Protocol,"), std::string::npos) << line;
  EXPECT_NE(line.find(",rule1,Invalid,Invalid,"), std::string::npos) << line;
  for (auto [p, name] : std::vector<std::pair<std::uint64_t, std::string>>{
           {1, "ICMP"}, {2, "IGMP"}, {17, "UDP"}, {58, "IPv6-ICMP"}})
    EXPECT_NE(
        line_of(with(test::antrea_record(), "protocolIdentifier", p), true).find("," + name + ","),
        std::string::npos)
        << name;
}

TEST(flow_log_filter, rule_action_names_are_antreas) {
  EXPECT_EQ(parse_rule_action("None"), 0);
  EXPECT_EQ(parse_rule_action("Allow"), 1);
  EXPECT_EQ(parse_rule_action("Drop"), 2);
  EXPECT_EQ(parse_rule_action("Reject"), 3);
  EXPECT_EQ(parse_rule_action("drop"), std::nullopt) << "case-sensitive";
  EXPECT_EQ(rule_action_name(2), "Drop");
}

TEST(flow_log_filter, each_case_of_antreas_rules) {
  using F = std::vector<flow_log_filter>;
  // No filter: every record.
  EXPECT_TRUE(passes({}, 0, 0));
  // One list: the record's action must be in it.
  F denied_in{{{2, 3}, {}}};
  EXPECT_TRUE(passes(denied_in, 2, 0));
  EXPECT_TRUE(passes(denied_in, 3, 1));
  EXPECT_FALSE(passes(denied_in, 1, 2)) << "only the ingress action counts";
  EXPECT_FALSE(passes(denied_in, 0, 0));
  F denied_out{{{}, {2, 3}}};
  EXPECT_TRUE(passes(denied_out, 0, 2));
  EXPECT_FALSE(passes(denied_out, 2, 1));
  // Both lists in one filter: both must match (AND).
  F both{{{1}, {2}}};
  EXPECT_TRUE(passes(both, 1, 2));
  EXPECT_FALSE(passes(both, 1, 1));
  EXPECT_FALSE(passes(both, 2, 2));
  // Several filters: any (OR) -- Antrea's example, every flow a policy denied.
  F denied{{{2, 3}, {}}, {{}, {2, 3}}};
  EXPECT_TRUE(passes(denied, 2, 0));
  EXPECT_TRUE(passes(denied, 0, 3));
  EXPECT_FALSE(passes(denied, 1, 1));
  EXPECT_FALSE(passes(denied, 0, 0));
  // A filter with both lists empty matches everything.
  F empty{{{}, {}}};
  EXPECT_TRUE(passes(empty, 1, 1));
  // "None" is the action 0: records no policy decided.
  F none{{{0}, {0}}};
  EXPECT_TRUE(passes(none, 0, 0));
  EXPECT_FALSE(passes(none, 1, 0));
}

TEST(flow_log_writer, writes_the_lines_that_pass_the_filters) {
  auto dir = fa::test::scratch_dir("flow_log_writer_filters");
  flow_log_options o;
  o.file.path = dir + "/flows.csv";
  o.pretty_print = false;
  o.filters = {{{2, 3}, {}}};
  flow_log_writer w{o};
  ASSERT_EQ(w.prepare(), std::nullopt);
  std::vector<std::vector<test::field>> records;
  for (std::uint64_t action : {1, 2, 0, 3})
    records.push_back(with(test::antrea_record(action), "ingressNetworkPolicyRuleAction", action));
  std::vector<payload_ptr> batch{test::payload(records)};
  auto r = w.write(batch, false);
  EXPECT_EQ(r.outcome, write_outcome::ok);
  EXPECT_EQ(r.rows, 2u);
  EXPECT_EQ(r.skipped, 2u);
  auto text = fa::test::read_file(o.file.path);
  EXPECT_EQ(text, line_of(records[1], false) + line_of(records[3], false));
}

} // namespace
