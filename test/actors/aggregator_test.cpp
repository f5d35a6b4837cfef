// aggregator (mode = "aggregate") on the deterministic scheduler: time moves only with
// the test clock, so the tick, active and inactive expiry and drain are observed exactly
// and without sleeps. Records are enriched Antrea v2.7 records built by element name
// (test/flows/flow_test_util.hpp); the destinations are probes.

#include "actors/aggregator.hpp"

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

/// An inter-Node record of flow `n` (10.0.0.n:1000+n -> 10.0.1.n:80, TCP) from the
/// source Node (`from_source`) or the destination Node, with packet and octet totals
/// `total` and deltas `delta` (reverse counters zero), ending at `end` (seconds).
values half(int n, bool from_source, std::uint64_t total, std::uint64_t delta, std::uint32_t end,
            std::uint8_t flow_type = flows::flow_type::inter_node) {
  values v;
  v.set("sourceIPv4Address", "10.0.0." + std::to_string(n))
      .set("destinationIPv4Address", "10.0.1." + std::to_string(n))
      .set("sourceTransportPort", static_cast<std::uint64_t>(1000 + n))
      .set("destinationTransportPort", 80)
      .set("protocolIdentifier", 6)
      .set("flowType", flow_type)
      .set("flowStartSeconds", 1'700'000'000)
      .set("flowEndSeconds", end)
      .set("flowEndReason", 2)
      .set_text("tcpState", "ESTABLISHED")
      .set("packetTotalCount", total)
      .set("packetDeltaCount", delta)
      .set("octetTotalCount", total * 100)
      .set("octetDeltaCount", delta * 100)
      .set("clusterId", "c1")
      .set("originalExporterIPv4Address", from_source ? "192.0.2.1" : "192.0.2.2")
      .set("flowDirection", from_source ? 1 : 0);
  if (from_source || flow_type != flows::flow_type::inter_node)
    v.set("sourcePodName", "client").set("sourcePodNamespace", "ns");
  if (!from_source || flow_type != flows::flow_type::inter_node)
    v.set("destinationPodName", "server").set("destinationPodNamespace", "ns");
  return v;
}

/// A decoded exported record with the destination that got it.
struct received {
  std::size_t destination = 0;
  std::uint16_t template_id = 0;
  decoded record;
};

class aggregator_test : public actor_fixture {
 protected:
  aggregator_test() { tmpl = templates->intern(def); }

  ~aggregator_test() override {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }

  /// `n` destination probes; their blocks per `blocks` (all block by default).
  void add_destinations(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      destinations.push_back(sys.spawn(destination_probe));
      spawned.push_back(caf::actor_cast<caf::actor>(destinations.back()));
    }
  }

  aggregator_config config() {
    aggregator_config c;
    c.table.active_timeout = 10s;
    c.table.inactive_timeout = 20s;
    c.table.max_flows = 100;
    c.destinations = destinations;
    c.templates = templates;
    c.output_budget = output_budget;
    return c;
  }

  aggregator_actor spawn_aggregator(aggregator_config c) {
    auto a = sys.spawn(aggregator, std::move(c));
    spawned.push_back(caf::actor_cast<caf::actor>(a));
    run();
    return a;
  }

  /// A batch of `recs` from session `session`, holding a credit on `session_budget`.
  messages::enriched_batch batch(const std::vector<values>& recs, std::uint64_t session = 1,
                                 const messages::output_template_ptr& t = nullptr) {
    auto p = std::make_shared<messages::enriched_payload>();
    const auto& use = t ? t : tmpl;
    for (const auto& v : recs) {
      auto r = v.encode(use->def);
      p->bytes.insert(p->bytes.end(), r.begin(), r.end());
    }
    p->sets.push_back({use, 0, static_cast<std::uint32_t>(p->bytes.size()),
                       static_cast<std::uint32_t>(recs.size())});
    p->records = recs.size();
    p->session = ipv4_session(session, 192, 0, 2, static_cast<std::uint8_t>(session));
    auto credit = std::make_shared<const messages::credit>(
        messages::session_budgets{session_budget, nullptr}, p->bytes.size());
    return {std::move(p), std::move(credit)};
  }

  void send(const aggregator_actor& a, messages::enriched_batch b) {
    caf::anon_send(a, std::move(b));
    run();
  }

  /// Moves the test clock by `d` a second at a time, running the actors after each
  /// second, so every tick due meanwhile fires (each tick arms the next one).
  void advance(std::chrono::seconds d) {
    for (auto i = 0; i < d.count(); ++i) {
      sched.clock().advance_time(1s);
      run();
    }
  }

  /// Every record the probes received since the last call, decoded by its template.
  std::vector<received> take() {
    std::vector<received> out;
    for (std::size_t i = 0; i < destinations.size(); ++i) {
      auto& st = state_of<destination_probe_state>(destinations[i]);
      for (auto& b : st.payloads)
        for (const auto& s : b->sets) {
          ipfix::bytes_view body{b->bytes.data() + s.offset, s.length};
          for (auto& r : records_of(s.tmpl->def, body))
            out.push_back({i, s.tmpl->id, decoded{s.tmpl->def, std::move(r)}});
        }
      st.payloads.clear();
    }
    return out;
  }

  messages::aggregator_status status(const aggregator_actor& a) {
    return request<messages::aggregator_status>(a, caf::get_atom_v, shard_atom_v);
  }

  std::shared_ptr<output_template_table> templates = std::make_shared<output_template_table>();
  template_def def = flows::test::enriched_def(false);
  messages::output_template_ptr tmpl;
  messages::byte_budget_ptr session_budget = std::make_shared<messages::byte_budget>(1 << 20);
  messages::byte_budget_ptr output_budget = std::make_shared<messages::byte_budget>(1 << 20);
  std::vector<destination_actor> destinations;
  std::vector<caf::actor> spawned;
};

TEST_F(aggregator_test, correlates_two_halves_from_two_sessions_and_exports_on_the_tick) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  send(a, batch({half(1, true, 10, 10, 1'700'000'010)}, 1));
  send(a, batch({half(1, false, 12, 12, 1'700'000'010)}, 2));
  // Nothing leaves before the tick.
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(next_timeout_in(), 1000ms);
  advance(1s);
  auto out = take();
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0].record;
  EXPECT_NE(out[0].template_id, tmpl->id);
  EXPECT_EQ(r.u("packetTotalCountFromSourceNode"), 10u);
  EXPECT_EQ(r.u("packetTotalCountFromDestinationNode"), 12u);
  EXPECT_EQ(r.u("packetDeltaCountFromSourceNode"), 10u);
  EXPECT_EQ(r.u("packetDeltaCountFromDestinationNode"), 12u);
  EXPECT_EQ(r.s("sourcePodName"), "client");
  EXPECT_EQ(r.s("destinationPodName"), "server");
  auto s = status(a);
  EXPECT_EQ(s.records_in, 2u);
  EXPECT_EQ(s.correlated, 1u);
  EXPECT_EQ(s.flows, 1u);
  EXPECT_EQ(s.records_out, 1u);
  EXPECT_EQ(s.exports[static_cast<std::size_t>(flows::export_reason::ready)], 1u);
  // The tick is armed again.
  EXPECT_EQ(next_timeout_in(), 1000ms);
}

TEST_F(aggregator_test, lets_go_of_the_batch_credit_at_once) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  send(a, batch({half(1, true, 10, 10, 1'700'000'010), half(2, true, 5, 5, 1'700'000'010)}));
  // The flows are held, the session's budget is not.
  EXPECT_EQ(session_budget->available(), session_budget->limit());
  EXPECT_EQ(status(a).flows, 2u);
}

TEST_F(aggregator_test, active_timeout_exports_new_data_only) {
  add_destinations(1);
  auto c = config();
  c.table.inactive_timeout = 60s;
  auto a = spawn_aggregator(c);
  send(a, batch({half(1, true, 10, 10, 1'700'000'010), half(1, false, 10, 10, 1'700'000'010)}));
  advance(1s);
  ASSERT_EQ(take().size(), 1u); // ready
  send(a, batch({half(1, true, 30, 20, 1'700'000'020), half(1, false, 31, 21, 1'700'000'020)}));
  // Active timeout 10 s after the first export: nothing before it.
  advance(8s);
  EXPECT_TRUE(take().empty());
  advance(2s);
  auto out = take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].record.u("packetDeltaCountFromSourceNode"), 20u);
  EXPECT_EQ(out[0].record.u("packetDeltaCountFromDestinationNode"), 21u);
  EXPECT_EQ(out[0].record.u("packetTotalCountFromSourceNode"), 30u);
  // Nothing new: no export at the next active timeout (HEAD #8278).
  advance(10s);
  EXPECT_TRUE(take().empty());
  EXPECT_GE(status(a).unchanged, 1u);
}

TEST_F(aggregator_test, inactive_flows_are_removed) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  send(a, batch({half(1, false, 10, 10, 1'700'000'010, flows::flow_type::intra_node)}));
  advance(1s);
  ASSERT_EQ(take().size(), 1u);
  EXPECT_EQ(status(a).flows, 1u);
  // Inactive timeout 20 s after the record, to the tick.
  advance(21s);
  auto s = status(a);
  EXPECT_EQ(s.flows, 0u);
  EXPECT_EQ(s.expired, 1u);
}

TEST_F(aggregator_test, drain_exports_every_flow_and_pending_ones_by_policy) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  // A correlated flow and a flow whose destination Node never reports.
  send(a, batch({half(1, true, 10, 10, 1'700'000'010), half(1, false, 11, 11, 1'700'000'010),
                 half(2, true, 7, 7, 1'700'000'010)}));
  EXPECT_TRUE(request<bool>(a, drain_atom_v));
  auto out = take();
  ASSERT_EQ(out.size(), 2u);
  std::map<std::string, std::uint64_t> by_source;
  for (auto& r : out)
    by_source[r.record.ip("sourceIPv4Address")] = r.record.u("packetTotalCountFromSourceNode");
  EXPECT_EQ(by_source["10.0.0.1"], 10u);
  EXPECT_EQ(by_source["10.0.0.2"], 7u);
  auto s = status(a);
  EXPECT_EQ(s.flows, 0u);
  EXPECT_EQ(s.uncorrelated_exported, 1u);
  EXPECT_EQ(s.exports[static_cast<std::size_t>(flows::export_reason::shutdown)], 2u);
}

TEST_F(aggregator_test, drain_with_uncorrelated_drop_counts_what_it_drops) {
  add_destinations(1);
  auto c = config();
  c.table.uncorrelated = flows::uncorrelated_policy::drop;
  auto a = spawn_aggregator(c);
  send(a, batch({half(2, true, 7, 7, 1'700'000'010)}));
  EXPECT_TRUE(request<bool>(a, drain_atom_v));
  EXPECT_TRUE(take().empty());
  auto s = status(a);
  EXPECT_EQ(s.flows, 0u);
  EXPECT_EQ(s.uncorrelated_dropped, 1u);
}

TEST_F(aggregator_test, records_that_cannot_be_aggregated_are_forwarded_as_they_are) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  auto plain = templates->intern(plain_v4(300));
  auto p = std::make_shared<messages::enriched_payload>();
  for (std::uint64_t i = 1; i <= 3; ++i)
    append(p->bytes, plain_v4_record(i));
  p->sets.push_back({plain, 0, static_cast<std::uint32_t>(p->bytes.size()), 3});
  p->records = 3;
  send(a, messages::enriched_batch{p, nullptr});
  auto out = take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].template_id, plain->id);
  EXPECT_EQ(out[2].record.raw(), plain_v4_record(3));
  auto s = status(a);
  EXPECT_EQ(s.forwarded, 3u);
  EXPECT_EQ(s.flows, 0u);
}

TEST_F(aggregator_test, fanout_hash_keeps_each_flow_on_one_destination) {
  add_destinations(2);
  auto c = config();
  c.fanout = fanout_mode::hash;
  c.destination_names = {"a", "b"};
  auto a = spawn_aggregator(c);
  std::vector<values> recs;
  for (int n = 1; n <= 40; ++n)
    recs.push_back(half(n, false, 1, 1, 1'700'000'010, flows::flow_type::intra_node));
  send(a, batch(recs));
  advance(1s);
  std::map<std::string, std::size_t> first;
  std::set<std::size_t> used;
  for (auto& r : take()) {
    first[r.record.ip("sourceIPv4Address")] = r.destination;
    used.insert(r.destination);
  }
  EXPECT_EQ(first.size(), 40u);
  EXPECT_EQ(used.size(), 2u) << "40 flows all on one destination";
  // Later exports of the same flows go where their first did.
  recs.clear();
  for (int n = 1; n <= 40; ++n)
    recs.push_back(half(n, false, 2, 1, 1'700'000'020, flows::flow_type::intra_node));
  send(a, batch(recs));
  advance(10s);
  auto out = take();
  EXPECT_EQ(out.size(), 40u);
  for (auto& r : out)
    EXPECT_EQ(r.destination, first[r.record.ip("sourceIPv4Address")]);
}

TEST_F(aggregator_test, only_blocking_destinations_hold_a_credit_on_the_output_budget) {
  add_destinations(2);
  auto c = config();
  c.destination_blocks = {true, false};
  auto a = spawn_aggregator(c);
  send(a, batch({half(1, false, 1, 1, 1'700'000'010, flows::flow_type::intra_node)}));
  advance(1s);
  auto& blocking = state_of<destination_probe_state>(destinations[0]);
  auto& dropping = state_of<destination_probe_state>(destinations[1]);
  ASSERT_EQ(blocking.payloads.size(), 1u);
  ASSERT_EQ(dropping.payloads.size(), 1u);
  EXPECT_NE(blocking.payloads[0].hold, nullptr);
  EXPECT_EQ(dropping.payloads[0].hold, nullptr);
  EXPECT_LT(output_budget->available(), output_budget->limit());
  blocking.payloads.clear();
  EXPECT_EQ(output_budget->available(), output_budget->limit());
}

TEST_F(aggregator_test, reconfig_changes_timeouts_without_losing_flows) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  send(a, batch({half(1, false, 1, 1, 1'700'000'010, flows::flow_type::intra_node)}));
  advance(1s);
  ASSERT_EQ(take().size(), 1u);
  auto c = std::make_shared<aggregator_config>(config());
  c->table.active_timeout = 3s;
  caf::anon_send(a, messages::aggregator_reconfig{c});
  run();
  send(a, batch({half(1, false, 5, 4, 1'700'000'011, flows::flow_type::intra_node)}));
  advance(3s);
  auto out = take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].record.u("packetDeltaCount"), 4u);
  EXPECT_EQ(status(a).flows, 1u);
}

TEST_F(aggregator_test, a_full_shard_evicts_and_exports_at_once) {
  add_destinations(1);
  auto c = config();
  c.table.max_flows = 2;
  auto a = spawn_aggregator(c);
  send(a, batch({half(1, true, 1, 1, 1'700'000'010), half(2, true, 1, 1, 1'700'000'010),
                 half(3, true, 1, 1, 1'700'000'010)}));
  // The evicted flow left with the batch, not at the tick.
  auto out = take();
  ASSERT_EQ(out.size(), 1u);
  auto s = status(a);
  EXPECT_EQ(s.flows, 2u);
  EXPECT_EQ(s.evicted, 1u);
  EXPECT_EQ(s.exports[static_cast<std::size_t>(flows::export_reason::evicted)], 1u);
}

TEST_F(aggregator_test, lists_flows_by_address_and_port_within_a_limit) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  std::vector<values> recs;
  for (int n = 1; n <= 5; ++n)
    recs.push_back(half(n, true, 3, 3, 1'700'000'010));
  send(a, batch(recs));
  auto all = request<messages::flow_page>(a, caf::get_atom_v, messages::flow_query{"", -1, 100});
  EXPECT_EQ(all.flows.size(), 5u);
  EXPECT_FALSE(all.more);
  auto two = request<messages::flow_page>(a, caf::get_atom_v, messages::flow_query{"", -1, 2});
  EXPECT_EQ(two.flows.size(), 2u);
  EXPECT_TRUE(two.more);
  auto one =
      request<messages::flow_page>(a, caf::get_atom_v, messages::flow_query{"10.0.1.3", -1, 100});
  ASSERT_EQ(one.flows.size(), 1u);
  const auto& f = one.flows[0];
  EXPECT_EQ(f.source, "10.0.0.3");
  EXPECT_EQ(f.destination, "10.0.1.3");
  EXPECT_EQ(f.source_port, 1003);
  EXPECT_EQ(f.destination_port, 80);
  EXPECT_EQ(f.protocol, 6);
  EXPECT_EQ(f.state, "pending");
  EXPECT_EQ(f.source_pod, "ns/client");
  EXPECT_EQ(f.packets, 3u);
  auto by_port =
      request<messages::flow_page>(a, caf::get_atom_v, messages::flow_query{"", 1004, 100});
  ASSERT_EQ(by_port.flows.size(), 1u);
  EXPECT_EQ(by_port.flows[0].source, "10.0.0.4");
}

/// The value of a series of `m`: counter, gauge, or a histogram's sample count (and sum).
double series(monitoring::metrics& m, const std::string& name,
              const std::pair<std::string, std::string>& label = {}, double* sum = nullptr) {
  for (const auto& fam : m.registry()->Collect()) {
    if (fam.name != name)
      continue;
    for (const auto& x : fam.metric) {
      bool match = label.first.empty();
      for (const auto& l : x.label)
        match = match || (l.name == label.first && l.value == label.second);
      if (!match)
        continue;
      if (fam.type == prometheus::MetricType::Histogram) {
        if (sum)
          *sum = x.histogram.sample_sum;
        return static_cast<double>(x.histogram.sample_count);
      }
      return fam.type == prometheus::MetricType::Counter ? x.counter.value : x.gauge.value;
    }
  }
  return -1;
}

TEST_F(aggregator_test, metrics_follow_the_table_and_the_export_lag) {
  monitoring::metrics m;
  add_destinations(1);
  auto c = config();
  c.metrics = &m;
  auto a = spawn_aggregator(c);
  send(a, batch({half(1, true, 10, 10, 1'700'000'010), half(1, false, 10, 10, 1'700'000'010),
                 half(2, true, 1, 1, 1'700'000'010)}));
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_flows", {"shard", "0"}), 2);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_pending_flows", {"shard", "0"}), 1);
  EXPECT_GT(series(m, "flow_aggregator_aggregate_state_bytes", {"shard", "0"}), 0);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_records_total", {"result", "created"}), 2);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_records_total", {"result", "correlated"}), 1);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_records_total", {"result", "updated"}), 0);
  // The correlated flow became ready with its second record: exported by the poll one
  // second later, a lag of exactly 1 s on the test clock.
  advance(1s);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_exports_total", {"reason", "ready"}), 1);
  double sum = 0;
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_export_lag_seconds", {}, &sum), 1);
  EXPECT_DOUBLE_EQ(sum, 1.0);
  // Drain: the pending flow leaves uncorrelated, with no deadline (no lag observed).
  EXPECT_TRUE(request<bool>(a, drain_atom_v));
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_exports_total", {"reason", "shutdown"}), 1);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_uncorrelated_flows_total", {"action", "exported"}),
            1);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_export_lag_seconds"), 1);
  EXPECT_EQ(series(m, "flow_aggregator_aggregate_flows", {"shard", "0"}), 0);
}

// The poll does not wait for the tick's message: under load the tick queues behind
// batches, so every batch checks the clock and polls once the tick's time has come.
TEST_F(aggregator_test, exports_leave_on_time_behind_queued_batches) {
  add_destinations(1);
  auto a = spawn_aggregator(config());
  send(a, batch({half(1, true, 10, 10, 1'700'000'010), half(1, false, 10, 10, 1'700'000'010)}));
  for (int n = 2; n <= 4; ++n)
    caf::anon_send(a, batch({half(n, true, 1, 1, 1'700'000'010)}));
  // The tick's time comes with three batches in the mailbox: its message queues last.
  sched.clock().advance_time(1s);
  const auto& st = state_of<aggregator_state>(a);
  sched.run_once(); // the first queued batch only
  EXPECT_EQ(st.status.batches, 2u);
  EXPECT_EQ(st.status.records_out, 1u) << "the ready flow left with the first batch";
  run();
  // The tick found the poll done: nothing is exported twice, and the next tick is due
  // a second after that poll.
  EXPECT_EQ(take().size(), 1u);
  EXPECT_EQ(status(a).records_out, 1u);
  EXPECT_EQ(next_timeout_in(), 1000ms);
}

// A poll with more due than `export_step` goes on in steps (each its own message), and
// exports are sent as soon as `max_payload` octets are staged: no call builds one huge
// output, and every flow still leaves once.
TEST_F(aggregator_test, exports_go_out_in_bounded_steps_and_payloads) {
  add_destinations(1);
  auto c = config();
  c.export_step = 2;
  auto a = spawn_aggregator(c);
  std::vector<values> recs;
  for (int n = 1; n <= 5; ++n) {
    recs.push_back(half(n, true, 10, 10, 1'700'000'010));
    recs.push_back(half(n, false, 10, 10, 1'700'000'010));
  }
  send(a, batch(recs));
  sched.clock().advance_time(1s);
  sched.run_once(); // the tick: one step of two flows, and the next step queued
  const auto& st = state_of<aggregator_state>(a);
  EXPECT_EQ(st.status.records_out, 2u);
  EXPECT_TRUE(st.polling);
  run();
  auto& probe = state_of<destination_probe_state>(destinations[0]);
  ASSERT_EQ(probe.payloads.size(), 3u);
  EXPECT_EQ(probe.payloads[0]->records, 2u);
  EXPECT_EQ(probe.payloads[2]->records, 1u);
  std::set<std::uint64_t> ports;
  for (const auto& r : take())
    ports.insert(r.record.u("sourceTransportPort"));
  EXPECT_EQ(ports.size(), 5u);
  EXPECT_FALSE(st.polling);

  // max_payload: a drain of three flows with room for one record sends three payloads.
  auto d = config();
  d.max_payload = 1;
  auto b = spawn_aggregator(d);
  send(b, batch({half(1, true, 1, 1, 1'700'000'010), half(2, true, 1, 1, 1'700'000'010),
                 half(3, true, 1, 1, 1'700'000'010)}));
  EXPECT_TRUE(request<bool>(b, drain_atom_v));
  EXPECT_EQ(probe.payloads.size(), 3u);
  EXPECT_EQ(take().size(), 3u);
}

TEST_F(aggregator_test, refuses_a_config_without_destinations) {
  auto a = sys.spawn(aggregator, config());
  run();
  caf::scoped_actor self{sys, true};
  auto handle = self->request(a, caf::infinite, caf::get_atom_v, shard_atom_v);
  run();
  bool failed = false;
  handle.receive([](messages::aggregator_status&) {}, [&](caf::error&) { failed = true; });
  EXPECT_TRUE(failed);
}

} // namespace
} // namespace fa::actors::test
