#pragma once

// Aggregate mode's JSON-lines exports of the load generator's pair content (--pairs),
// summed per flow and per Node, for the checks of aggregate_test and scaleout_test.

#include "tools/common/loadgen_content.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace fa::test {

/// What the exports of one flow add up to.
struct flow_sums {
  std::size_t exports = 0;
  std::size_t correlated = 0; ///< exports carrying both Nodes' names
  tools::pair_counts source;  ///< sums of the *FromSourceNode deltas
  tools::pair_counts destination;
  tools::pair_counts last_source_totals;
  tools::pair_counts last_destination_totals;
};

inline void add(tools::pair_counts& sum, const nlohmann::json& r, const std::string& side) {
  sum.packets += r.value("packetDeltaCountFrom" + side + "Node", std::uint64_t{0});
  sum.octets += r.value("octetDeltaCountFrom" + side + "Node", std::uint64_t{0});
  sum.reverse_packets += r.value("reversePacketDeltaCountFrom" + side + "Node", std::uint64_t{0});
  sum.reverse_octets += r.value("reverseOctetDeltaCountFrom" + side + "Node", std::uint64_t{0});
}

inline tools::pair_counts totals(const nlohmann::json& r, const std::string& side) {
  tools::pair_counts t;
  t.packets = r.value("packetTotalCountFrom" + side + "Node", std::uint64_t{0});
  t.octets = r.value("octetTotalCountFrom" + side + "Node", std::uint64_t{0});
  t.reverse_packets = r.value("reversePacketTotalCountFrom" + side + "Node", std::uint64_t{0});
  t.reverse_octets = r.value("reverseOctetTotalCountFrom" + side + "Node", std::uint64_t{0});
  return t;
}

inline void expect_counts(const tools::pair_counts& got, const tools::pair_counts& want,
                          const std::string& what) {
  EXPECT_EQ(got.packets, want.packets) << what;
  EXPECT_EQ(got.octets, want.octets) << what;
  EXPECT_EQ(got.reverse_packets, want.reverse_packets) << what;
  EXPECT_EQ(got.reverse_octets, want.reverse_octets) << what;
}

/// The exports in JSON-lines text, summed per pair flow. Records of other content fail
/// the test.
inline std::map<std::uint64_t, flow_sums> parse_exports(const std::string& text) {
  std::map<std::uint64_t, flow_sums> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(r.is_discarded()) << line;
    if (r.is_discarded())
      continue;
    std::uint8_t a[4] = {};
    EXPECT_EQ(inet_pton(AF_INET, r.value("sourceIPv4Address", "").c_str(), a), 1) << line;
    auto flow = tools::pair_flow_of({a, 4});
    EXPECT_TRUE(flow.has_value()) << line;
    if (!flow)
      continue;
    auto& f = out[*flow];
    ++f.exports;
    if (!r.value("sourcePodName", "").empty() && !r.value("destinationPodName", "").empty())
      ++f.correlated;
    add(f.source, r, "Source");
    add(f.destination, r, "Destination");
    f.last_source_totals = totals(r, "Source");
    f.last_destination_totals = totals(r, "Destination");
  }
  return out;
}

/// The exports in a JSON-lines file (see parse_exports).
inline std::map<std::uint64_t, flow_sums> read_exports(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return parse_exports(text.str());
}

/// Flow `f` of the pair content after `rounds` rounds: each Node's exported deltas add up
/// to its totals, the last export carries them, and every export was correlated.
inline void expect_flow_adds_up(const flow_sums& s, std::uint64_t seed, std::uint64_t f,
                                std::uint64_t rounds) {
  const auto what = "flow " + std::to_string(f);
  const auto src = tools::pair_totals(seed, f, true, rounds);
  const auto dst = tools::pair_totals(seed, f, false, rounds);
  expect_counts(s.source, src, what + " source deltas");
  expect_counts(s.destination, dst, what + " destination deltas");
  expect_counts(s.last_source_totals, src, what + " source totals");
  expect_counts(s.last_destination_totals, dst, what + " destination totals");
  EXPECT_GT(s.exports, 0u) << what;
  EXPECT_EQ(s.correlated, s.exports) << what;
}

} // namespace fa::test
