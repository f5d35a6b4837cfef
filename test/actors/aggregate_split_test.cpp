// mode = "aggregate" with several shards (DESIGN 9), on the deterministic scheduler: two
// sessions pinned to two enrichers carry the source Node's and the destination Node's
// records of the same flows; each enricher splits its batches by flow key, so both
// halves of every flow meet in one aggregator shard and are correlated there, once.
// Records that cannot be aggregated go to one shard, chosen by their exporter.

#include "actors/aggregator.hpp"
#include "actors/enricher.hpp"
#include "actors/template_planner.hpp"

#include "test/actors/test_util.hpp"
#include "test/flows/flow_test_util.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace fa::actors::test {
namespace {

using namespace std::chrono_literals;
using flows::test::decoded;
using flows::test::values;

constexpr std::size_t num_shards = 4;
constexpr int num_flows = 64;

/// Flow `n`'s record from the source Node (`from_source`) or the destination Node, as
/// the agent sends it (v2.7 template, no appended fields): 10.0.n/250.n%250:1000+n ->
/// 10.1.0.1:80, TCP, InterNode, `total` packets, all of them new.
values half(int n, bool from_source, std::uint64_t total) {
  values v;
  v.set("sourceIPv4Address", "10.0." + std::to_string(n / 250) + "." + std::to_string(n % 250))
      .set("destinationIPv4Address", "10.1.0.1")
      .set("sourceTransportPort", static_cast<std::uint64_t>(1000 + n))
      .set("destinationTransportPort", 80)
      .set("protocolIdentifier", 6)
      .set("flowType", flows::flow_type::inter_node)
      .set("flowStartSeconds", 1'700'000'000)
      .set("flowEndSeconds", 1'700'000'010)
      .set("flowEndReason", 2)
      .set("packetTotalCount", total)
      .set("packetDeltaCount", total)
      .set("octetTotalCount", total * 100)
      .set("octetDeltaCount", total * 100);
  if (from_source)
    v.set("sourcePodName", "client").set("sourcePodNamespace", "ns");
  else
    v.set("destinationPodName", "server").set("destinationPodNamespace", "ns");
  return v;
}

class aggregate_split_test : public actor_fixture {
 protected:
  aggregate_split_test() {
    probe = sys.spawn(destination_probe);
    spawned.push_back(caf::actor_cast<caf::actor>(probe));
    for (std::size_t i = 0; i < num_shards; ++i) {
      aggregator_config c;
      c.shard = static_cast<std::uint32_t>(i);
      c.table.active_timeout = 10s;
      c.table.inactive_timeout = 20s;
      c.table.max_flows = 1000;
      c.destinations = {probe};
      c.templates = templates;
      c.output_budget = budget;
      shards.push_back(sys.spawn(aggregator, std::move(c)));
      spawned.push_back(caf::actor_cast<caf::actor>(shards.back()));
    }
    run();
  }

  ~aggregate_split_test() override {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }

  /// An enricher whose destinations are the shards, routed as the supervisor routes
  /// them (`split` false: the routing the split replaces).
  enricher_actor spawn_enricher(bool split = true) {
    enricher_config c;
    route_to_shards(c, shards);
    // The shards read every record's fields: they get the offsets (flow_table::add_set).
    EXPECT_TRUE(c.record_varlen);
    c.split_by_flow = split;
    auto e = sys.spawn(enricher, std::move(c));
    spawned.push_back(caf::actor_cast<caf::actor>(e));
    run();
    return e;
  }

  messages::template_plan_ptr plan(const template_def& def) {
    auto p = plan_template(def, 7, enrichment_options{});
    EXPECT_NE(p, nullptr);
    return p ? bind_output(*p, *templates) : nullptr;
  }

  /// One data batch of `session`: a slice per (plan, records), in order.
  void send(const enricher_actor& e, const messages::session_info_ptr& session,
            const std::vector<std::pair<messages::template_plan_ptr, std::vector<bytes>>>& slices) {
    bytes all;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    for (auto& [p, recs] : slices) {
      auto start = all.size();
      for (auto& r : recs)
        append(all, r);
      ranges.emplace_back(start, all.size() - start);
    }
    messages::data_batch b;
    b.session = session;
    b.data = make_chunk(all, messages::session_budgets{budget, nullptr});
    for (std::size_t i = 0; i < slices.size(); ++i) {
      add_slice(b, slices[i].first,
                ipfix::bytes_view{b.data->data() + ranges[i].first, ranges[i].second});
      EXPECT_EQ(b.slices.back().records, slices[i].second.size());
    }
    caf::anon_send(e, std::move(b));
    if (run_all)
      run();
  }

  bool run_all = true; ///< `send` runs every actor (false: the test steps them)

  messages::aggregator_status status(std::size_t i) {
    return request<messages::aggregator_status>(shards[i], caf::get_atom_v, shard_atom_v);
  }

  std::shared_ptr<output_template_table> templates = std::make_shared<output_template_table>();
  messages::byte_budget_ptr budget = std::make_shared<messages::byte_budget>(1 << 24);
  destination_actor probe;
  std::vector<aggregator_actor> shards;
  std::vector<caf::actor> spawned;
};

TEST_F(aggregate_split_test, both_halves_of_each_flow_meet_in_one_shard) {
  auto agent = plan(flows::test::make_def(flows::test::agent_fields_v27(false)));
  auto foreign = plan(plain_v4(300));
  auto from_source = spawn_enricher();
  auto from_destination = spawn_enricher();
  auto node_a = ipv4_session(1, 192, 0, 2, 1);
  auto node_b = ipv4_session(2, 192, 0, 2, 2);
  std::vector<bytes> src, dst;
  for (int n = 0; n < num_flows; ++n) {
    src.push_back(half(n, true, 10).encode(agent->input));
    dst.push_back(half(n, false, 12).encode(agent->input));
  }
  // Node A's batch also carries a record no shard can aggregate, between two slices.
  send(from_source, node_a,
       {{agent, {src.begin(), src.begin() + 10}},
        {foreign, {plain_v4_record(5)}},
        {agent, {src.begin() + 10, src.end()}}});
  send(from_destination, node_b, {{agent, dst}});

  std::uint64_t flows = 0, correlated = 0, records_in = 0, forwarded = 0;
  std::size_t used = 0, forwarding_shard = num_shards;
  for (std::size_t i = 0; i < num_shards; ++i) {
    auto s = status(i);
    EXPECT_EQ(s.pending, 0u) << "shard " << i << " holds a half whose other half went elsewhere";
    EXPECT_LE(s.batches, 2u) << "one message per shard and batch";
    flows += s.flows;
    correlated += s.correlated;
    records_in += s.records_in;
    forwarded += s.forwarded;
    used += s.flows > 0 ? 1 : 0;
    if (s.forwarded > 0)
      forwarding_shard = i;
  }
  EXPECT_EQ(flows, static_cast<std::uint64_t>(num_flows));
  EXPECT_EQ(correlated, static_cast<std::uint64_t>(num_flows));
  EXPECT_EQ(records_in, 2u * num_flows + 1);
  EXPECT_EQ(forwarded, 1u);
  EXPECT_GE(used, 2u) << "every flow in one shard";
  // The exporter's shard, the same every time.
  EXPECT_EQ(forwarding_shard, flows::shard_of(exporter_key(node_a->peer_v6), num_shards));

  // The tick exports every flow once, with both Nodes' counters.
  sched.clock().advance_time(1s);
  run();
  auto& st = state_of<destination_probe_state>(probe);
  std::map<std::string, int> seen;
  std::size_t plain_records = 0;
  for (auto& b : st.payloads)
    for (const auto& s : b->sets) {
      ipfix::bytes_view body{b->bytes.data() + s.offset, s.length};
      for (auto& r : records_of(s.tmpl->def, body)) {
        if (s.tmpl == foreign->output) {
          ++plain_records;
          continue;
        }
        decoded d{s.tmpl->def, r};
        EXPECT_EQ(d.u("packetTotalCountFromSourceNode"), 10u);
        EXPECT_EQ(d.u("packetTotalCountFromDestinationNode"), 12u);
        ++seen[d.ip("sourceIPv4Address") + ":" + std::to_string(d.u("sourceTransportPort"))];
      }
    }
  EXPECT_EQ(plain_records, 1u);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(num_flows));
  for (auto& [flow, n] : seen)
    EXPECT_EQ(n, 1) << flow;
}

// A batch waiting in a shard's mailbox holds its session's credit, so a shard that
// falls behind pauses the readers (DESIGN 3) instead of queueing batches without bound;
// the shard lets go of it as soon as it has read the batch.
TEST_F(aggregate_split_test, batches_queued_at_a_shard_hold_the_receive_budget) {
  auto agent = plan(flows::test::make_def(flows::test::agent_fields_v27(false)));
  auto e = spawn_enricher();
  std::vector<bytes> src;
  for (int n = 0; n < num_flows; ++n)
    src.push_back(half(n, true, 10).encode(agent->input));
  run_all = false;
  send(e, ipv4_session(1, 192, 0, 2, 1), {{agent, src}});
  sched.prioritize(e);
  sched.run_once(); // the enricher only: the shards' messages wait in their mailboxes
  EXPECT_LT(budget->available(), budget->limit()) << "queued batches hold no credit";
  run();
  EXPECT_EQ(budget->available(), budget->limit());
  std::uint64_t flows = 0;
  for (std::size_t i = 0; i < num_shards; ++i)
    flows += status(i).flows;
  EXPECT_EQ(flows, static_cast<std::uint64_t>(num_flows));
}

TEST_F(aggregate_split_test, without_the_split_every_shard_would_take_every_record) {
  // The routing the split replaces (fanout "all" to the shards): shown here so the test
  // above is known to tell the two apart.
  auto agent = plan(flows::test::make_def(flows::test::agent_fields_v27(false)));
  auto e = spawn_enricher(false);
  send(e, ipv4_session(1, 192, 0, 2, 1), {{agent, {half(1, true, 10).encode(agent->input)}}});
  for (std::size_t i = 0; i < num_shards; ++i)
    EXPECT_EQ(status(i).flows, 1u);
}

} // namespace
} // namespace fa::actors::test
