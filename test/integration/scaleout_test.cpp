// Aggregate mode scaled out (issue 14): two proxy processes with fanout = "flow" in front
// of three aggregate-mode processes, all real binaries on loopback. Four load generators
// play 20 Nodes (10 pairs of --pairs content) whose sessions are spread over both proxies
// so that the two halves of every inter-Node flow arrive through different proxies. Each
// proxy picks the shard of a record by rendezvous hashing of its flow key, so both halves
// meet in one shard: every flow is exported by exactly one aggregator, correlated, and the
// exported deltas of each Node add up to what its agent sent.

#include "test/integration/aggregate_exports.hpp"
#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono_literals;

namespace fa::test {
namespace {

constexpr std::uint64_t seed = 11;
constexpr std::uint64_t pairs = 10; ///< 20 Nodes
constexpr std::uint64_t flows_per_pair = 40;
constexpr std::uint64_t rounds = 4;
constexpr std::uint32_t odid_base = 1000;

std::string shard_config(const std::string& dir) {
  return "mode = \"aggregate\"\n"
         "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
         "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n"
         "[runtime]\nlog_format = \"json\"\nworkers = 1\nshutdown_timeout = \"30s\"\n"
         "[aggregate]\nactive_timeout = \"1s\"\ninactive_timeout = \"30s\"\n"
         "[[destination]]\nname = \"file\"\nurl = \"jsonl:" +
         dir + "/out.jsonl\"\n";
}

/// A proxy whose destinations are the shards, named as the Kubernetes overlay names them
/// (deploy/kubernetes/aggregate-scaleout/proxy-configmap.yaml).
std::string proxy_config(const std::vector<std::uint16_t>& shard_ports) {
  std::string out = "mode = \"proxy\"\n"
                    "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                    "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                    "[admin]\nlisten = \"127.0.0.1:0\"\n"
                    "[runtime]\nlog_format = \"json\"\nworkers = 1\nshutdown_timeout = \"30s\"\n"
                    "[fanout]\nmode = \"flow\"\n"
                    // As deploy/kubernetes/aggregate-scaleout: the shards add what Antrea's
                    // aggregate mode has (clusterId, labels), the proxies only provenance.
                    "[enrichment]\nprovenance = true\nantrea = false\n";
  for (std::size_t i = 0; i < shard_ports.size(); ++i)
    out += "[[destination]]\nname = \"aggregator-" + std::to_string(i) +
           "\"\nurl = \"ipfix+tcp://127.0.0.1:" + std::to_string(shard_ports[i]) +
           "\"\nflush_interval = \"5ms\"\non_full = \"block\"\n"
           "reconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n";
  return out;
}

TEST(scaleout, two_proxies_route_both_halves_of_every_flow_to_one_of_three_shards) {
  auto dir = scratch_dir("scaleout");
  std::vector<std::unique_ptr<fa_process>> shards;
  std::vector<std::uint16_t> shard_ports;
  for (int i = 0; i < 3; ++i) {
    auto d = dir + "/shard" + std::to_string(i);
    std::filesystem::create_directories(d);
    shards.push_back(std::make_unique<fa_process>(d, d + "/fa.toml", shard_config(d)));
    ASSERT_NE(shards.back()->port(), 0);
    shard_ports.push_back(shards.back()->port());
  }
  std::vector<std::unique_ptr<fa_process>> proxies;
  for (int i = 0; i < 2; ++i) {
    auto d = dir + "/proxy" + std::to_string(i);
    std::filesystem::create_directories(d);
    proxies.push_back(std::make_unique<fa_process>(d, d + "/fa.toml", proxy_config(shard_ports)));
    ASSERT_NE(proxies.back()->port(), 0);
  }

  // Session s plays the source Node of pair s / 2 when even, its destination Node when
  // odd. With a step of 4, proxy 0 gets the sources of the even pairs (s = 0, 4, ...) and
  // the destinations of the odd ones (s = 3, 7, ...); proxy 1 the other halves.
  struct player {
    int proxy;
    std::uint32_t first_session;
  };
  const player players[] = {{0, 0}, {0, 3}, {1, 1}, {1, 2}};
  std::vector<std::unique_ptr<process>> loadgens;
  for (const auto& p : players)
    loadgens.push_back(start_loadgen(proxies[static_cast<std::size_t>(p.proxy)]->port(),
                                     {"--sessions",
                                      std::to_string(pairs / 2),
                                      "--odid-base",
                                      std::to_string(odid_base + p.first_session),
                                      "--odid-step",
                                      "4",
                                      "--pair-base",
                                      std::to_string(odid_base),
                                      "--pairs",
                                      std::to_string(flows_per_pair),
                                      "--records",
                                      std::to_string(flows_per_pair * rounds),
                                      "--template",
                                      "antrea-v4",
                                      "--seed",
                                      std::to_string(seed),
                                      "--rate",
                                      std::to_string(pairs / 2 * flows_per_pair * 2),
                                      "--records-per-message",
                                      "20"}));
  for (auto& l : loadgens)
    EXPECT_EQ(l->wait(60s), 0);

  const double sent = 2.0 * pairs * flows_per_pair * rounds;
  auto aggregated = [&] {
    double n = 0;
    for (auto& s : shards)
      n += s->metric("flow_aggregator_aggregate_records_total");
    return n;
  };
  ASSERT_TRUE(eventually([&] { return aggregated() >= sent; }, 60s)) << aggregated();
  EXPECT_EQ(aggregated(), sent);
  double flows_held = 0, correlated = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    auto& s = *shards[i];
    // Each shard owns some flows, and none waits for a half another shard got.
    EXPECT_GT(s.metric("flow_aggregator_aggregate_flows"), 0.0) << "shard " << i;
    EXPECT_EQ(s.metric("flow_aggregator_aggregate_pending_flows"), 0.0) << "shard " << i;
    flows_held += s.metric("flow_aggregator_aggregate_flows");
    correlated += s.metric("flow_aggregator_aggregate_records_total", {{"result", "correlated"}});
  }
  EXPECT_EQ(flows_held, static_cast<double>(pairs * flows_per_pair));
  EXPECT_EQ(correlated, static_cast<double>(pairs * flows_per_pair));
  // Nothing dropped on the way: the proxies' destinations took every record.
  for (auto& p : proxies)
    EXPECT_EQ(p->metric("flow_aggregator_records_dropped_total"), 0.0);

  // Proxies first (they drain into the shards), then the shards export what is new.
  for (auto& p : proxies)
    EXPECT_EQ(p->terminate(60s), 0) << p->log();
  for (auto& s : shards)
    EXPECT_EQ(s->terminate(60s), 0) << s->log();

  std::map<std::uint64_t, flow_sums> all;
  for (int i = 0; i < 3; ++i) {
    auto got = read_exports(dir + "/shard" + std::to_string(i) + "/out.jsonl");
    for (auto& [flow, sums] : got) {
      // Exactly one aggregator exports each flow.
      EXPECT_TRUE(all.emplace(flow, sums).second) << "flow " << flow << " in two shards";
    }
  }
  ASSERT_EQ(all.size(), pairs * flows_per_pair);
  for (std::uint64_t f = 0; f < pairs * flows_per_pair; ++f)
    expect_flow_adds_up(all[f], seed, f, rounds);
}

} // namespace
} // namespace fa::test
