// mode = "aggregate" end to end (issue 11): the load generator plays the source Node and
// the destination Node of the same inter-Node flows from two sessions (--pairs), with
// counters that grow every round; flow-aggregator (three shards: the enrichers split
// batches by flow key) correlates them and exports every active timeout to a JSON-lines
// destination. Every exported record is checked against
// the agents' content: per flow and per Node, the exported deltas add up to the Node's
// total (nothing counted twice, nothing lost), and the last export carries the totals.

#include "test/integration/aggregate_exports.hpp"
#include "test/integration/fa_process.hpp"
#include "tools/common/loadgen_content.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <fstream>
#include <map>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

constexpr std::uint64_t seed = 7;

std::string aggregate_config(const std::string& dir, const std::string& aggregate_toml) {
  return "mode = \"aggregate\"\n"
         "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
         "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n"
         "[runtime]\nlog_format = \"json\"\nworkers = 2\nshutdown_timeout = \"60s\"\n"
         "[aggregate]\n" +
         aggregate_toml + "[[destination]]\nname = \"file\"\nurl = \"jsonl:" + dir +
         "/out.jsonl\"\n";
}

TEST(aggregate, both_nodes_of_every_flow_add_up_over_several_exports) {
  auto dir = scratch_dir("aggregate_rounds");
  constexpr std::uint64_t flows = 300;
  constexpr std::uint64_t rounds = 5;
  running fa{
      test_config("[[destination]]\nname = \"file\"\nurl = \"jsonl:" + dir + "/out.jsonl\"\n",
                  "mode = \"aggregate\"\n[aggregate]\nactive_timeout = \"1s\"\n"
                  "inactive_timeout = \"30s\"\nshards = 3\n")};
  ASSERT_NE(fa.port, 0);
  // Two sessions, one per Node, 600 records a second in all: a round a second, so every
  // flow is exported after most rounds.
  ASSERT_EQ(run_loadgen(fa.port, {"--sessions", "2", "--pairs", std::to_string(flows), "--records",
                                  std::to_string(flows * rounds), "--template", "antrea-v4",
                                  "--seed", std::to_string(seed), "--rate",
                                  std::to_string(2 * flows), "--records-per-message", "50"}),
            0);
  const double sent = 2.0 * flows * rounds;
  ASSERT_TRUE(eventually(
      [&] { return metric(fa.sup, "flow_aggregator_aggregate_records_total") >= sent; }, 60s));
  // Every record became part of a flow: none dropped, none out of date.
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_aggregate_records_total"), sent);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_aggregate_records_total", {{"result", "correlated"}}),
            static_cast<double>(flows));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_aggregate_records_total", {{"result", "created"}}),
            static_cast<double>(flows));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_aggregate_flows"), static_cast<double>(flows));
  // The enrichers split each batch by flow key: every shard holds some flows, and no
  // flow waits in one shard for a half another shard got.
  for (int shard = 0; shard < 3; ++shard)
    EXPECT_GT(metric(fa.sup, "flow_aggregator_aggregate_flows", {{"shard", std::to_string(shard)}}),
              0.0)
        << "shard " << shard;
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_aggregate_pending_flows"), 0.0);
  // Shutdown exports what is new since the last export.
  EXPECT_EQ(fa.sup.stop(30s), 0u);

  auto got = read_exports(dir + "/out.jsonl");
  ASSERT_EQ(got.size(), flows);
  std::size_t several = 0;
  for (std::uint64_t f = 0; f < flows; ++f) {
    expect_flow_adds_up(got[f], seed, f, rounds);
    several += got[f].exports >= 3 ? 1 : 0;
  }
  EXPECT_GE(several, flows / 2) << "most flows should be exported several times";
}

TEST(aggregate, sigterm_exports_every_flow_pending_ones_uncorrelated) {
  auto dir = scratch_dir("aggregate_sigterm");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr std::uint64_t flows = 200;
  fa_process fa{dir, dir + "/fa.toml",
                aggregate_config(dir, "active_timeout = \"60s\"\ninactive_timeout = \"60s\"\n")};
  ASSERT_NE(fa.port(), 0);
  // Three sessions: pair 0 has both Nodes, pair 1 only its source Node, so its flows wait
  // for a half that never comes.
  ASSERT_EQ(run_loadgen(fa.port(), {"--sessions", "3", "--pairs", std::to_string(flows),
                                    "--records", std::to_string(flows * 2), "--template",
                                    "antrea-v4", "--seed", std::to_string(seed)}),
            0);
  ASSERT_TRUE(eventually(
      [&] { return fa.metric("flow_aggregator_aggregate_records_total") >= 3.0 * flows * 2; }, 60s))
      << fa.log();
  EXPECT_EQ(fa.metric("flow_aggregator_aggregate_pending_flows"), static_cast<double>(flows));
  EXPECT_EQ(fa.terminate(60s), 0) << fa.log();

  auto got = read_exports(dir + "/out.jsonl");
  ASSERT_EQ(got.size(), 2 * flows);
  for (std::uint64_t f = 0; f < 2 * flows; ++f) {
    const auto& s = got[f];
    const auto what = "flow " + std::to_string(f);
    expect_counts(s.source, tools::pair_totals(seed, f, true, 2), what + " source");
    if (f < flows) {
      expect_counts(s.destination, tools::pair_totals(seed, f, false, 2), what + " destination");
    } else {
      // Exported uncorrelated at shutdown: only what the source Node sent.
      EXPECT_EQ(s.exports, 1u) << what;
      EXPECT_EQ(s.correlated, 0u) << what;
      expect_counts(s.destination, {}, what + " destination");
    }
  }
  auto stopped = log_events(fa.log(), "stopped");
  ASSERT_EQ(stopped.size(), 1u) << fa.log();
  EXPECT_EQ(stopped[0]["undelivered_bytes"], "0");
}

} // namespace
} // namespace fa::test
