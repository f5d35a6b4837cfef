// flow_split (mode = "aggregate" shards, fanout = "flow" destinations): both Nodes'
// records of one flow pick the same output from the agent's template, flows spread over
// the outputs, the FromExternal ingress half meets the destination Node's record, and
// templates that cannot be aggregated get no layout. With destinations (rendezvous on
// their names), adding one moves only the flows it wins. The key read at the offsets
// computed per template (flow_key_reader) hashes as flows::record_key's key does.

#include "actors/flow_split.hpp"

#include "actors/template_planner.hpp"
#include "base/hash.hpp"
#include "test/flows/flow_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>

namespace fa::actors::test {
namespace {

using flows::test::values;

/// The plan of the v2.7 agent template (no appended fields: what an enricher reads).
messages::template_plan_ptr agent_plan(bool v6 = false) {
  auto p = std::make_shared<messages::template_plan>();
  p->input = flows::test::make_def(flows::test::agent_fields_v27(v6));
  p->layout = ipfix::record_layout{p->input};
  p->antrea = true;
  return p;
}

/// flow `n`'s record from one Node: 10.0.0.n:1000+n -> 10.0.1.n:80, TCP, InterNode.
values half(int n, bool from_source) {
  values v;
  v.set("sourceIPv4Address", "10.0.0." + std::to_string(n % 250))
      .set("destinationIPv4Address", "10.0.1." + std::to_string(n / 250))
      .set("sourceTransportPort", static_cast<std::uint64_t>(1000 + n))
      .set("destinationTransportPort", 80)
      .set("protocolIdentifier", 6)
      .set("flowType", flows::flow_type::inter_node);
  if (from_source)
    v.set("sourcePodName", "client");
  else
    v.set("destinationPodName", "server");
  return v;
}

/// The shard of `v`, encoded with `plan`'s template and walked as an enricher walks it.
std::size_t shard(flow_split& s, const messages::template_plan_ptr& plan, const values& v) {
  auto rec = v.encode(plan->input);
  std::vector<ipfix::field_slice> varlen(plan->layout.num_varlen());
  ipfix::parse_error err = ipfix::parse_error::none;
  EXPECT_EQ(plan->layout.walk_varlen(rec, varlen, err), rec.size());
  const auto* l = s.reader_of(plan);
  EXPECT_NE(l, nullptr);
  return l ? s.output_of(*l, rec, varlen) : 0;
}

TEST(flow_split, both_halves_of_a_flow_pick_the_same_shard_and_flows_spread) {
  flow_split s{4};
  auto plan = agent_plan();
  std::set<std::size_t> used;
  for (int n = 0; n < 200; ++n) {
    auto a = shard(s, plan, half(n, true));
    EXPECT_EQ(a, shard(s, plan, half(n, false))) << "flow " << n;
    EXPECT_LT(a, 4u);
    used.insert(a);
  }
  EXPECT_EQ(used.size(), 4u);
}

/// The rendezvous seeds of destinations named `names`.
std::vector<std::uint64_t> seeds(const std::vector<std::string>& names) {
  std::vector<std::uint64_t> out;
  for (const auto& n : names)
    out.push_back(destination_seed(n));
  return out;
}

TEST(flow_split, destinations_both_halves_of_a_flow_pick_the_same_one_and_flows_spread) {
  // The same split in two proxies: what each picks depends only on the flow and the
  // names, so the halves meet whichever proxy got them.
  flow_split proxy_a{seeds({"shard-0", "shard-1", "shard-2"})};
  flow_split proxy_b{seeds({"shard-0", "shard-1", "shard-2"})};
  ASSERT_EQ(proxy_a.outputs(), 3u);
  auto plan = agent_plan();
  std::vector<std::size_t> per_output(3);
  for (int n = 0; n < 600; ++n) {
    auto a = shard(proxy_a, plan, half(n, true));
    EXPECT_EQ(a, shard(proxy_b, plan, half(n, false))) << "flow " << n;
    ASSERT_LT(a, 3u);
    ++per_output[a];
  }
  for (auto c : per_output)
    EXPECT_GT(c, 120u) << "each destination should get about a third of 600";
}

TEST(flow_split, adding_a_destination_moves_only_the_flows_it_wins) {
  flow_split three{seeds({"shard-0", "shard-1", "shard-2"})};
  // The list order differs: the choice goes by name, not by position.
  const std::vector<std::string> names4{"shard-3", "shard-1", "shard-0", "shard-2"};
  flow_split four{seeds(names4)};
  const std::vector<std::string> names3{"shard-0", "shard-1", "shard-2"};
  auto plan = agent_plan();
  int moved = 0;
  for (int n = 0; n < 800; ++n) {
    auto before = names3[shard(three, plan, half(n, true))];
    auto after = names4[shard(four, plan, half(n, true))];
    if (before != after) {
      EXPECT_EQ(after, "shard-3") << "flow " << n << " moved between old destinations";
      ++moved;
    }
  }
  // About a quarter moves to the new one (200 of 800).
  EXPECT_GT(moved, 120);
  EXPECT_LT(moved, 280);
}

TEST(flow_split, failover_sends_a_down_destinations_flows_to_their_next_choice_and_counts_them) {
  const std::vector<std::string> names{"shard-0", "shard-1", "shard-2"};
  auto s = seeds(names);
  flow_split split{s};
  std::vector<prometheus::Gauge> up(3);
  std::vector<prometheus::Counter> rerouted(3);
  std::vector<const prometheus::Gauge*> up_ptrs;
  std::vector<prometheus::Counter*> rerouted_ptrs;
  for (std::size_t i = 0; i < 3; ++i) {
    up[i].Set(1);
    up_ptrs.push_back(&up[i]);
    rerouted_ptrs.push_back(&rerouted[i]);
  }
  split.fail_over(up_ptrs, rerouted_ptrs);
  auto plan = agent_plan();
  // The flows each destination wins with all three up.
  std::vector<std::size_t> winner(300);
  split.begin_batch();
  for (int n = 0; n < 300; ++n)
    winner[n] = shard(split, plan, half(n, true));
  split.end_batch();

  // shard-1 down: only its flows move, each to the better of the other two for that flow,
  // the same choice as rendezvous over the two names left; both halves still together.
  up[1].Set(0);
  const std::vector<std::string> left{"shard-0", "shard-2"};
  flow_split two{seeds(left)};
  split.begin_batch();
  std::uint64_t lost = 0;
  for (int n = 0; n < 300; ++n) {
    auto got = shard(split, plan, half(n, true));
    EXPECT_EQ(got, shard(split, plan, half(n, false))) << "flow " << n;
    if (winner[n] != 1) {
      EXPECT_EQ(got, winner[n]) << "flow " << n << " moved though its destination is up";
      continue;
    }
    lost += 2;
    EXPECT_EQ(names[got], left[shard(two, plan, half(n, true))]) << "flow " << n;
  }
  split.end_batch();
  EXPECT_GT(lost, 100u); // about a third of 300 flows, two records each
  EXPECT_EQ(rerouted[1].Value(), static_cast<double>(lost));
  EXPECT_EQ(rerouted[0].Value() + rerouted[2].Value(), 0.0);

  // Back up: routing returns to the winner from the next batch, nothing more counted.
  up[1].Set(1);
  split.begin_batch();
  for (int n = 0; n < 300; ++n)
    EXPECT_EQ(shard(split, plan, half(n, true)), winner[n]) << "flow " << n;
  split.end_batch();
  EXPECT_EQ(rerouted[1].Value(), static_cast<double>(lost));

  // All down: nowhere better to go, so each flow waits for its own destination.
  for (auto& g : up)
    g.Set(0);
  split.begin_batch();
  for (int n = 0; n < 300; ++n)
    EXPECT_EQ(shard(split, plan, half(n, true)), winner[n]) << "flow " << n;
  split.end_batch();
  EXPECT_EQ(rerouted[1].Value(), static_cast<double>(lost));
}

TEST(rendezvous, pick_up_is_the_pick_over_the_destinations_up) {
  const auto all = seeds({"a", "b", "c", "d"});
  for (std::uint64_t key = 0; key < 2000; ++key) {
    auto k = base::mix64(key);
    EXPECT_EQ(rendezvous_pick_up(all, k, {false, false, false, false}), rendezvous_pick(all, k));
    EXPECT_EQ(rendezvous_pick_up(all, k, {true, true, true, true}), rendezvous_pick(all, k));
    // "b" and "d" down: the choice among "a" and "c" alone.
    const auto ac = seeds({"a", "c"});
    EXPECT_EQ(rendezvous_pick_up(all, k, {false, true, false, true}),
              rendezvous_pick(ac, k) == 0 ? 0u : 2u);
  }
}

/// The plan of template `def` as an enricher gets it.
messages::template_plan_ptr plan_of(const ipfix::template_def& def) {
  auto p = std::make_shared<messages::template_plan>();
  p->input = def;
  p->layout = ipfix::record_layout{p->input};
  p->antrea = true;
  return p;
}

/// `names` with `name` moved to the front: every other field then follows a
/// variable-length value (field_at::after >= 0) when `name` is one.
std::vector<std::string> with_first(std::vector<std::string> names, const std::string& name) {
  std::erase(names, name);
  names.insert(names.begin(), name);
  return names;
}

TEST(flow_split, the_key_read_at_its_offsets_hashes_as_the_record_key) {
  // Templates: v2.7 IPv4 and IPv6 (key fields before, flowType and proxy SNAT after
  // variable-length values), both address families (v2.3's choice of pair), and every
  // field after a variable-length one.
  auto both = flows::test::agent_fields_v27(false);
  both.insert(both.begin() + 3, {"sourceIPv6Address", "destinationIPv6Address", "proxySnatIPv6"});
  const std::vector<std::vector<std::string>> templates{
      flows::test::agent_fields_v27(false), flows::test::agent_fields_v27(true), both,
      with_first(flows::test::agent_fields_v27(false), "destinationPodName"),
      with_first(both, "sourcePodName")};
  std::mt19937_64 rng{7};
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  auto hex = [](std::uint64_t group) {
    char b[8];
    std::snprintf(b, sizeof b, "%x", static_cast<unsigned>(group));
    return std::string{b};
  };
  auto v4 = [&] {
    return pick(4) == 0 ? std::string{"0.0.0.0"}
                        : "10.244." + std::to_string(pick(256)) + "." + std::to_string(pick(256));
  };
  auto v6 = [&] {
    return pick(4) == 0   ? std::string{"::"}
           : pick(3) == 0 ? "::ffff:10.0.0." + std::to_string(pick(256))
                          : "fd00::" + hex(pick(65536)) + ":" + hex(pick(65536));
  };
  flow_split split{seeds({"shard-0", "shard-1", "shard-2"})};
  int ingress_halves = 0;
  for (const auto& names : templates) {
    auto plan = plan_of(flows::test::make_def(names));
    const auto* reader = split.reader_of(plan);
    ASSERT_NE(reader, nullptr);
    auto l = flows::make_aggregate_layout(plan->input, plan->input.fields.size());
    ASSERT_TRUE(l->aggregatable);
    for (int n = 0; n < 400; ++n) {
      values v;
      v.set("sourceIPv4Address", v4())
          .set("destinationIPv4Address", v4())
          .set("sourceIPv6Address", v6())
          .set("destinationIPv6Address", v6())
          .set("sourceTransportPort", pick(65536))
          .set("destinationTransportPort", pick(65536))
          .set("protocolIdentifier", pick(256))
          .set("flowType", 1 + pick(4))
          .set("proxySnatIPv4", v4())
          .set("proxySnatIPv6", v6())
          .set("proxySnatPort", pick(65536))
          .set("sourcePodName", std::string(pick(300), 's'))
          .set("destinationPodName", std::string(pick(3) == 0 ? 0 : pick(300), 'd'));
      auto rec = v.encode(plan->input);
      std::vector<ipfix::field_slice> varlen(plan->layout.num_varlen());
      ipfix::parse_error err = ipfix::parse_error::none;
      ASSERT_EQ(plan->layout.walk_varlen(rec, varlen, err), rec.size());
      bool ingress = false;
      const auto key = flows::record_key(*l, rec, varlen, &ingress);
      ingress_halves += ingress ? 1 : 0;
      EXPECT_EQ(reader->hash(rec.data(), varlen), flow_hash(key))
          << "template " << names[0] << ", record " << n;
      EXPECT_EQ(split.output_of(*reader, rec, varlen),
                rendezvous_pick(seeds({"shard-0", "shard-1", "shard-2"}), flow_hash(key)));
    }
  }
  EXPECT_GT(ingress_halves, 50); // the FromExternal special key was read, not only the plain one

  // Reference a: an IPv4 record and an IPv6 record carrying the IPv4-mapped addresses
  // are one flow.
  auto plan4 = plan_of(flows::test::make_def(flows::test::agent_fields_v27(false)));
  auto plan6 = plan_of(flows::test::make_def(flows::test::agent_fields_v27(true)));
  auto hash = [&](const messages::template_plan_ptr& plan, const values& v) {
    auto rec = v.encode(plan->input);
    std::vector<ipfix::field_slice> varlen(plan->layout.num_varlen());
    ipfix::parse_error err = ipfix::parse_error::none;
    EXPECT_EQ(plan->layout.walk_varlen(rec, varlen, err), rec.size());
    return split.reader_of(plan)->hash(rec.data(), varlen);
  };
  values a, b;
  a.set("sourceIPv4Address", "10.0.0.1").set("destinationIPv4Address", "10.0.1.2");
  b.set("sourceIPv6Address", "::ffff:10.0.0.1").set("destinationIPv6Address", "::ffff:10.0.1.2");
  for (auto* v : {&a, &b})
    v->set("sourceTransportPort", 1234)
        .set("destinationTransportPort", 80)
        .set("protocolIdentifier", 6)
        .set("flowType", flows::flow_type::inter_node);
  EXPECT_EQ(hash(plan4, a), hash(plan6, b));
}

TEST(rendezvous, structured_flows_spread_evenly_and_a_new_destination_takes_a_fair_share_of_each) {
  // The weight is one multiply and xor-shift of seed ^ flow_hash: the flows of one /16
  // with sequential ports (a structured key set) still split evenly, and a fourth
  // destination takes about a quarter from each of the three, nothing between them.
  const auto three = seeds({"shard-0", "shard-1", "shard-2"});
  const auto four = seeds({"shard-0", "shard-1", "shard-2", "shard-3"});
  std::vector<double> share(3), taken(3);
  constexpr int flows_n = 60'000;
  for (int n = 0; n < flows_n; ++n) {
    flows::flow_key k;
    const std::uint8_t src[4] = {10, 244, static_cast<std::uint8_t>(n >> 8),
                                 static_cast<std::uint8_t>(n)};
    const std::uint8_t dst[4] = {10, 96, 0, static_cast<std::uint8_t>(n % 7)};
    k.source = flows::ipv4_address(src);
    k.destination = flows::ipv4_address(dst);
    k.source_port = static_cast<std::uint16_t>(30000 + n % 1000);
    k.destination_port = 443;
    k.protocol = 6;
    const auto h = flow_hash(k);
    const auto before = rendezvous_pick(three, h);
    const auto after = rendezvous_pick(four, h);
    share[before] += 1;
    if (after != before) {
      ASSERT_EQ(after, 3u) << "flow " << n << " moved between old destinations";
      taken[before] += 1;
    }
  }
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(share[i] / flows_n, 1.0 / 3, 0.01) << "destination " << i;
    EXPECT_NEAR(taken[i] / share[i], 0.25, 0.015) << "destination " << i;
  }
}

TEST(flow_split, records_without_a_key_go_by_exporter_as_fanout_hash) {
  auto s = seeds({"a", "b", "c"});
  flow_split split{s};
  for (std::uint8_t i = 0; i < 50; ++i) {
    std::array<std::uint8_t, 16> peer{};
    peer[10] = peer[11] = 0xff;
    peer[15] = i;
    auto k = exporter_key(peer);
    EXPECT_EQ(split.output_of_exporter(k), rendezvous_pick(s, k));
  }
  EXPECT_EQ(flow_split{1}.output_of_exporter(12345), 0u);
}

TEST(flow_split, one_shard_is_always_shard_zero) {
  flow_split s{1};
  auto plan = agent_plan(true);
  values v;
  v.set("sourceIPv6Address", "2001:db8::1")
      .set("destinationIPv6Address", "2001:db8::2")
      .set("flowType", flows::flow_type::inter_node);
  EXPECT_EQ(shard(s, plan, v), 0u);
}

TEST(flow_split, from_external_ingress_half_meets_the_destination_node) {
  flow_split s{16};
  auto plan = agent_plan();
  // Reference a (HEAD): the ingress Node's record of an external client's connection to a
  // NodePort, SNATed to 10.0.0.9:40000, carries that SNAT address; the destination Node
  // sees 10.0.0.9:40000 as the source.
  for (int n = 0; n < 50; ++n) {
    values ingress;
    ingress.set("sourceIPv4Address", "203.0.113." + std::to_string(n))
        .set("destinationIPv4Address", "10.0.1.5")
        .set("sourceTransportPort", 5555)
        .set("destinationTransportPort", 80)
        .set("protocolIdentifier", 6)
        .set("flowType", flows::flow_type::from_external)
        .set("proxySnatIPv4", "10.0.0.9")
        .set("proxySnatPort", static_cast<std::uint64_t>(40000 + n));
    values destination;
    destination.set("sourceIPv4Address", "10.0.0.9")
        .set("destinationIPv4Address", "10.0.1.5")
        .set("sourceTransportPort", static_cast<std::uint64_t>(40000 + n))
        .set("destinationTransportPort", 80)
        .set("protocolIdentifier", 6)
        .set("flowType", flows::flow_type::from_external)
        .set("destinationPodName", "server");
    EXPECT_EQ(shard(s, plan, ingress), shard(s, plan, destination)) << n;
  }
}

TEST(flow_split, the_key_is_read_with_antrea_enrichment_off) {
  // enrichment.antrea = false (the proxies in front of shards) leaves plan->antrea off;
  // the agent's records must still go by their flow key, not all by the exporter.
  auto p = std::make_shared<messages::template_plan>();
  p->input = flows::test::make_def(flows::test::agent_fields_v27(false));
  p->layout = ipfix::record_layout{p->input};
  p->antrea = false;
  messages::template_plan_ptr plan = p;
  flow_split s{seeds({"shard-0", "shard-1", "shard-2"})};
  std::set<std::size_t> used;
  for (int n = 0; n < 60; ++n)
    used.insert(shard(s, plan, half(n, true)));
  EXPECT_EQ(used.size(), 3u);
}

TEST(flow_split, templates_that_cannot_be_aggregated_have_no_layout) {
  flow_split s{2};
  auto plain = std::make_shared<messages::template_plan>();
  plain->input =
      flows::test::make_def({"sourceIPv4Address", "destinationIPv4Address", "packetDeltaCount"});
  plain->layout = ipfix::record_layout{plain->input};
  EXPECT_EQ(s.reader_of(plain), nullptr);
  // Antrea elements without flowType: Antrea, yet not aggregatable.
  auto partial = std::make_shared<messages::template_plan>();
  partial->input =
      flows::test::make_def({"sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
                             "destinationTransportPort", "protocolIdentifier", "sourcePodName"});
  partial->layout = ipfix::record_layout{partial->input};
  partial->antrea = true;
  EXPECT_EQ(s.reader_of(partial), nullptr);
  // A plan that is gone is forgotten; a new plan at the same address is looked at anew.
  auto full = agent_plan();
  EXPECT_NE(s.reader_of(full), nullptr);
  plain.reset();
  s.prune();
  EXPECT_NE(s.reader_of(full), nullptr);
  EXPECT_EQ(s.reader_of(partial), nullptr);
}

} // namespace
} // namespace fa::actors::test
