#include "ipfix/elements.hpp"

#include "ipfix/template.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fa::ipfix {
namespace {

TEST(elements, iana_by_id_and_name) {
  const auto* e = find_element(iana_pen, 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "octetDeltaCount");
  EXPECT_EQ(e->type, data_type::unsigned64);
  EXPECT_EQ(e->length, 8);
  EXPECT_EQ(find_element("octetDeltaCount"), e);

  e = find_element(iana_pen, ie::source_ipv4_address);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "sourceIPv4Address");
  EXPECT_EQ(e->type, data_type::ipv4_address);
  EXPECT_EQ(find_element(iana_pen, ie::flow_start_milliseconds)->type,
            data_type::date_time_milliseconds);
  EXPECT_EQ(find_element(iana_pen, 82)->length, varlen);
}

TEST(elements, antrea_by_id_and_name) {
  const auto* e = find_element(antrea_pen, antrea_ie::source_pod_name);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "sourcePodName");
  EXPECT_EQ(e->enterprise, antrea_pen);
  EXPECT_EQ(e->type, data_type::string);
  EXPECT_EQ(e->length, varlen);
  EXPECT_EQ(find_element("sourcePodName"), e);
  EXPECT_EQ(find_element(antrea_pen, antrea_ie::flow_type)->name, "flowType");
  EXPECT_EQ(find_element("clusterId")->id, antrea_ie::cluster_id);
}

TEST(elements, reverse_elements_mirror_iana) {
  struct expect {
    std::uint16_t id;
    std::string_view name;
  };
  // A counter, timestamps, flags, a flow key.
  for (auto [id, name] :
       {expect{1, "reverseOctetDeltaCount"}, expect{2, "reversePacketDeltaCount"},
        expect{152, "reverseFlowStartMilliseconds"}, expect{156, "reverseFlowStartNanoseconds"},
        expect{6, "reverseTcpControlBits"}, expect{8, "reverseSourceIPv4Address"},
        expect{236, "reverseVRFname"}}) {
    const auto* fwd = find_element(iana_pen, id);
    const auto* rev = find_element(reverse_pen, id);
    ASSERT_NE(fwd, nullptr) << id;
    ASSERT_NE(rev, nullptr) << id;
    EXPECT_EQ(rev->name, name);
    EXPECT_EQ(rev->enterprise, reverse_pen);
    EXPECT_EQ(rev->type, fwd->type);
    EXPECT_EQ(rev->length, fwd->length);
    EXPECT_EQ(find_element(name), rev);
  }
}

TEST(elements, process_identifiers_and_statistics_are_not_reversible) {
  // RFC 5103 6.1.
  for (std::uint16_t id : {130, 131, 145, 148, 149, 173, 210, 211, 216, 217, 239, 41, 166, 405})
    EXPECT_EQ(find_element(reverse_pen, id), nullptr) << id;
  EXPECT_EQ(find_element("reverseObservationDomainId"), nullptr);
}

TEST(elements, unknown_elements) {
  EXPECT_EQ(find_element(iana_pen, 30000), nullptr);
  EXPECT_EQ(find_element(antrea_pen, 1), nullptr);
  EXPECT_EQ(find_element(12345, 1), nullptr);
  EXPECT_EQ(find_element(""), nullptr);
  EXPECT_EQ(find_element("OctetDeltaCount"), nullptr); // names are case-sensitive
  EXPECT_EQ(find_element("octetDeltaCoun"), nullptr);
  EXPECT_EQ(element_name(iana_pen, 30000), "id30000");
  EXPECT_EQ(element_name(12345, 7), "e12345id7");
  EXPECT_EQ(element_name(reverse_pen, 149), "e29305id149");
  EXPECT_EQ(element_name(antrea_pen, 101), "sourcePodName");
  EXPECT_EQ(element_name(iana_pen, 1), "octetDeltaCount");
  std::string out = "x";
  append_element_name(out, 4294967295u, 65535);
  EXPECT_EQ(out, "xe4294967295id65535");
}

TEST(elements, data_type_names_follow_rfc_7012) {
  EXPECT_EQ(to_string(data_type::octet_array), "octetArray");
  EXPECT_EQ(to_string(data_type::unsigned64), "unsigned64");
  EXPECT_EQ(to_string(data_type::mac_address), "macAddress");
  EXPECT_EQ(to_string(data_type::date_time_microseconds), "dateTimeMicroseconds");
  EXPECT_EQ(to_string(data_type::ipv6_address), "ipv6Address");
  EXPECT_EQ(to_string(data_type::sub_template_multi_list), "subTemplateMultiList");
  for (int t = 0; t <= static_cast<int>(data_type::sub_template_multi_list); ++t)
    EXPECT_NE(to_string(static_cast<data_type>(t)), "unknown") << t;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, ','))
      cols.push_back(col);
    rows.push_back(cols);
  }
  return rows;
}

TEST(elements, every_csv_row_is_in_the_registry) {
  std::size_t n = 0;
  for (const char* file : {"/iana-elements.csv", "/antrea-elements.csv"}) {
    for (const auto& row : read_csv(std::string(FA_IPFIX_ELEMENTS_DIR) + file)) {
      ASSERT_EQ(row.size(), 5u);
      const auto pen = static_cast<std::uint32_t>(std::stoul(row[0]));
      const auto id = static_cast<std::uint16_t>(std::stoul(row[1]));
      const auto* e = find_element(pen, id);
      ASSERT_NE(e, nullptr) << row[2];
      EXPECT_EQ(e->name, row[2]);
      EXPECT_EQ(to_string(e->type), row[3]) << row[2];
      EXPECT_EQ(e->length, row[4] == "variable" ? varlen : std::stoul(row[4])) << row[2];
      EXPECT_EQ(find_element(row[2]), e);
      ++n;
    }
  }
  EXPECT_GT(n, 500u);
}

} // namespace
} // namespace fa::ipfix
