// actors/fanout: which destination gets what, who holds the credit, and the one check of
// a routing config (used by the enrichers and the aggregator shards, at spawn and on
// reload). Plain tests: the set is driven with a recording `send`, no actor runs.

#include "actors/fanout.hpp"

#include "test/support/ipfix_records.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace fa::actors {
namespace {

using fa::test::ipv4_session;

/// What `send` got: (destination index, batch), in order.
struct recorder {
  std::vector<std::pair<std::size_t, messages::enriched_batch>> sent;
  auto send() {
    return
        [this](std::size_t i, messages::enriched_batch b) { sent.emplace_back(i, std::move(b)); };
  }
};

destination_spec spec(std::size_t n, fanout_mode mode = fanout_mode::all,
                      std::vector<bool> blocks = {}) {
  destination_spec s;
  s.destinations.resize(n); // the handles are not used: `send` gets the index
  s.fanout = mode;
  if (mode != fanout_mode::all)
    for (std::size_t i = 0; i < n; ++i)
      s.names.push_back("dest-" + std::to_string(i));
  s.blocks = std::move(blocks);
  return s;
}

destination_set make(destination_spec s) {
  std::string error;
  auto set = destination_set::make(std::move(s), error);
  EXPECT_TRUE(set) << error;
  return std::move(*set);
}

std::shared_ptr<const messages::enriched_payload>
payload_of(messages::session_info_ptr session = ipv4_session(1, 192, 0, 2, 7)) {
  auto p = std::make_shared<messages::enriched_payload>();
  p->bytes.reserve(100);
  p->records = 1;
  p->session = std::move(session);
  return p;
}

messages::session_budgets budgets() {
  return {std::make_shared<messages::byte_budget>(1000),
          std::make_shared<messages::byte_budget>(5000)};
}

TEST(fanout, all_sends_one_payload_to_every_destination_with_one_credit) {
  auto set = make(spec(3));
  auto b = budgets();
  recorder r;
  auto p = payload_of();
  set.route(p, b, r.send());
  ASSERT_EQ(r.sent.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.sent[i].first, i);
    EXPECT_EQ(r.sent[i].second.payload, p); // shared, not copied
    ASSERT_NE(r.sent[i].second.hold, nullptr);
    EXPECT_EQ(r.sent[i].second.hold, r.sent[0].second.hold);
  }
  // The credit is the payload's capacity, charged to the budgets given.
  EXPECT_EQ(b.session->available(), 1000 - static_cast<std::int64_t>(p->bytes.capacity()));
  r.sent.clear();
  EXPECT_EQ(b.session->available(), 1000);
  EXPECT_EQ(b.global->available(), 5000);
}

TEST(fanout, only_blocking_destinations_hold_the_credit) {
  // Destination 1 drops (on_full = "drop"); 2 has no entry and blocks.
  auto set = make(spec(3, fanout_mode::all, {true, false}));
  EXPECT_TRUE(set.blocks(0));
  EXPECT_FALSE(set.blocks(1));
  EXPECT_TRUE(set.blocks(2));
  auto b = budgets();
  recorder r;
  set.route(payload_of(), b, r.send());
  ASSERT_EQ(r.sent.size(), 3u);
  EXPECT_NE(r.sent[0].second.hold, nullptr);
  EXPECT_EQ(r.sent[1].second.hold, nullptr);
  EXPECT_NE(r.sent[2].second.hold, nullptr);

  // No destination blocks: no credit is made at all, the budget is never charged.
  auto drop = make(spec(2, fanout_mode::all, {false, false}));
  recorder none;
  drop.route(payload_of(), b, none.send());
  ASSERT_EQ(none.sent.size(), 2u);
  EXPECT_EQ(none.sent[0].second.hold, nullptr);
  EXPECT_EQ(none.sent[1].second.hold, nullptr);
  r.sent.clear();
  EXPECT_EQ(b.session->available(), 1000);
}

TEST(fanout, hash_sends_each_exporters_payloads_to_one_destination) {
  auto set = make(spec(4, fanout_mode::hash));
  EXPECT_TRUE(set.keyed());
  EXPECT_EQ(set.outputs(), 1u); // payloads are routed whole
  auto b = budgets();
  std::map<std::uint8_t, std::set<std::size_t>> by_exporter;
  std::set<std::size_t> used;
  for (std::uint8_t host = 1; host <= 64; ++host)
    for (std::uint64_t session = 0; session < 3; ++session) { // reconnects: same address
      recorder r;
      set.route(payload_of(ipv4_session(session, 192, 0, 2, host)), b, r.send());
      ASSERT_EQ(r.sent.size(), 1u);
      by_exporter[host].insert(r.sent[0].first);
      used.insert(r.sent[0].first);
    }
  for (const auto& [host, dests] : by_exporter)
    EXPECT_EQ(dests.size(), 1u) << "exporter " << int{host};
  EXPECT_EQ(used.size(), 4u); // 64 exporters spread over all four
}

TEST(fanout, the_choice_follows_the_names_not_the_order_of_the_config) {
  auto s = spec(3, fanout_mode::hash);
  auto set = make(s);
  std::reverse(s.names.begin(), s.names.end());
  auto reversed = make(s);
  for (std::uint64_t key = 0; key < 200; ++key) {
    const auto a = set.pick(key * 0x9e3779b97f4a7c15ULL);
    const auto b = reversed.pick(key * 0x9e3779b97f4a7c15ULL);
    EXPECT_EQ(b, 2 - a) << key; // the same name wins
    EXPECT_EQ(a, rendezvous_pick({destination_seed("dest-0"), destination_seed("dest-1"),
                                  destination_seed("dest-2")},
                                 key * 0x9e3779b97f4a7c15ULL));
  }
}

TEST(fanout, send_to_sends_to_that_destination_only) {
  auto set = make(spec(3, fanout_mode::all, {false, true, true}));
  auto b = budgets();
  recorder r;
  messages::payload_credit credit;
  auto p = payload_of();
  set.send_to(0, p, b, credit, r.send());
  EXPECT_EQ(credit, nullptr); // 0 drops: nothing charged yet
  set.send_to(2, p, b, credit, r.send());
  ASSERT_NE(credit, nullptr);
  set.send_to(1, p, b, credit, r.send());
  ASSERT_EQ(r.sent.size(), 3u);
  EXPECT_EQ(r.sent[0].first, 0u);
  EXPECT_EQ(r.sent[0].second.hold, nullptr);
  EXPECT_EQ(r.sent[1].first, 2u);
  EXPECT_EQ(r.sent[1].second.hold, credit);
  EXPECT_EQ(r.sent[2].first, 1u);
  EXPECT_EQ(r.sent[2].second.hold, credit); // one credit per payload
}

TEST(fanout, outputs_split_by_flow_over_shards_or_flow_destinations) {
  EXPECT_EQ(make(spec(3)).outputs(), 1u);
  EXPECT_EQ(make(spec(3, fanout_mode::hash)).outputs(), 1u);
  auto flow = make(spec(3, fanout_mode::flow));
  EXPECT_EQ(flow.outputs(), 3u);
  EXPECT_TRUE(flow.keyed()); // records without a flow key go by exporter, as hash
  auto shards = spec(4);
  shards.split_by_flow = true;
  auto split = make(shards);
  EXPECT_EQ(split.outputs(), 4u);
  EXPECT_FALSE(split.keyed());
}

TEST(fanout, a_bad_config_is_refused_with_the_reason) {
  std::string error;
  EXPECT_FALSE(destination_set::make(destination_spec{}, error));
  EXPECT_EQ(error, "no destination");
  for (auto mode : {fanout_mode::hash, fanout_mode::flow}) {
    auto s = spec(3, mode);
    s.names.pop_back();
    error.clear();
    EXPECT_FALSE(destination_set::make(s, error));
    EXPECT_EQ(error, "fanout hash and flow need one name per destination");
  }
  // Fanout all and shards need no names.
  auto shards = spec(2);
  shards.split_by_flow = true;
  EXPECT_TRUE(destination_set::make(shards, error));
  EXPECT_TRUE(destination_set::make(spec(2), error));
}

} // namespace
} // namespace fa::actors
