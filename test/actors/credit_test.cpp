// Credits and backpressure (DESIGN 3): buffers pin their size in the session's and the
// global budget until the last holder drops them, and a waiting reader resumes once.

#include "actors/agent_session.hpp"
#include "actors/enricher.hpp"

#include "test/actors/test_util.hpp"

#include <gtest/gtest.h>

namespace fa::actors::test {
namespace {

using messages::byte_budget;
using messages::session_budgets;

TEST(byte_budget_test, acquire_and_release_move_the_available_octets) {
  byte_budget b{100};
  EXPECT_EQ(b.limit(), 100);
  EXPECT_FALSE(b.spent());
  b.acquire(60);
  EXPECT_EQ(b.available(), 40);
  EXPECT_FALSE(b.spent());
  b.acquire(40); // exactly spent
  EXPECT_TRUE(b.spent());
  b.acquire(10);
  EXPECT_EQ(b.available(), -10);
  b.release(110);
  EXPECT_EQ(b.available(), 100);
  EXPECT_FALSE(b.spent());
}

TEST(byte_budget_test, wait_parks_a_resume_that_runs_exactly_once) {
  byte_budget b{100};
  b.acquire(150);
  int first = 0, second = 0;
  EXPECT_TRUE(b.wait([&] { ++first; }));
  EXPECT_TRUE(b.wait([&] { ++second; })); // session and global readers may both wait
  b.release(20);                          // -30: still spent
  EXPECT_EQ(first, 0);
  b.release(30); // 0: still spent
  EXPECT_EQ(first, 0);
  b.release(10); // 10: above zero, everyone wakes
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  b.release(90);
  EXPECT_EQ(first, 1);
  // Spent and released again without a new wait: nothing to resume.
  b.acquire(200);
  b.release(200);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  // A new wait parks again, once.
  b.acquire(100);
  EXPECT_TRUE(b.wait([&] { ++first; }));
  b.release(1);
  EXPECT_EQ(first, 2);
  b.release(99);
  EXPECT_EQ(first, 2);
  EXPECT_EQ(b.available(), 100);
}

TEST(byte_budget_test, wait_does_not_park_when_the_budget_is_positive) {
  byte_budget b{100};
  b.acquire(50);
  int resumed = 0;
  // A release came between the read and the wait: keep reading.
  EXPECT_FALSE(b.wait([&] { ++resumed; }));
  b.acquire(80);
  b.release(130);
  EXPECT_EQ(resumed, 0);
}

TEST(byte_budget_test, a_credit_charges_both_budgets_until_destroyed) {
  session_budgets budgets{std::make_shared<byte_budget>(1000), std::make_shared<byte_budget>(5000)};
  {
    messages::credit c{budgets, 300};
    EXPECT_EQ(c.size(), 300u);
    EXPECT_EQ(budgets.session->available(), 700);
    EXPECT_EQ(budgets.global->available(), 4700);
  }
  EXPECT_EQ(budgets.session->available(), 1000);
  EXPECT_EQ(budgets.global->available(), 5000);
  // Without a global budget only the session's is charged.
  session_budgets only_session{budgets.session, nullptr};
  {
    messages::credit c{only_session, 10};
    EXPECT_EQ(budgets.session->available(), 990);
  }
  EXPECT_EQ(budgets.session->available(), 1000);
}

TEST(byte_budget_test, a_chunk_pins_its_capacity_until_the_last_reference_goes) {
  session_budgets budgets{std::make_shared<byte_budget>(1000), std::make_shared<byte_budget>(5000)};
  auto c = std::make_shared<messages::chunk>(300, budgets);
  c->set_size(120); // whole messages; the rest of the read buffer is still pinned
  EXPECT_EQ(budgets.session->available(), 700);
  EXPECT_EQ(budgets.global->available(), 4700);
  EXPECT_EQ(c->budgets().session, budgets.session);
  messages::chunk_ptr other = c;
  c.reset();
  EXPECT_EQ(budgets.session->available(), 700);
  other.reset();
  EXPECT_EQ(budgets.session->available(), 1000);
  EXPECT_EQ(budgets.global->available(), 5000);
}

/// agent_session -> enricher -> two destination probes, with a real budget.
class credit_test : public actor_fixture {
 protected:
  credit_test() {
    d1 = sys.spawn(destination_probe);
    d2 = sys.spawn(destination_probe);
    enricher_config ec;
    ec.destinations = {d1, d2};
    ec.enrichment.cluster_id = "c";
    e = sys.spawn(enricher, std::move(ec));
    agent_session_config ac;
    ac.info = ipv4_session(1, 192, 0, 2, 7);
    ac.enricher = e;
    ac.table = std::make_shared<output_template_table>();
    s = sys.spawn(agent_session, std::move(ac));
    run();
  }

  ~credit_test() override {
    for (auto* d : {&d1, &d2})
      state_of<destination_probe_state>(*d).payloads.clear();
  }

  void send(const bytes& content) {
    caf::anon_send(s, messages::frames{make_chunk(content, budgets)});
    run();
  }

  std::int64_t session_available() const { return budgets.session->available(); }
  std::int64_t global_available() const { return budgets.global->available(); }

  std::vector<probe_batch>& out(const destination_actor& d) {
    return state_of<destination_probe_state>(d).payloads;
  }

  session_budgets budgets{std::make_shared<byte_budget>(1000), std::make_shared<byte_budget>(5000)};
  destination_actor d1, d2;
  enricher_actor e;
  agent_session_actor s;
};

TEST_F(credit_test, enriched_bytes_stay_spent_until_the_last_destination_drops_them) {
  auto m = message(1, 0, [&](auto& b) {
    template_set(b, {plain_v4(256)});
    data_set(b, 256, {plain_v4_record(1), plain_v4_record(2)});
  });
  send(m);
  ASSERT_EQ(out(d1).size(), 1u);
  ASSERT_EQ(out(d2).size(), 1u);
  // The input chunk is released once enriched; the payload's own credit stays, charged
  // to the session's budget and the global one.
  auto& credit = out(d1)[0].hold;
  ASSERT_NE(credit, nullptr);
  auto held = static_cast<std::int64_t>(credit->size());
  EXPECT_GE(credit->size(), out(d1)[0]->bytes.size());
  EXPECT_EQ(out(d1)[0]->bytes.size(), 2u * (16 + 24));
  EXPECT_EQ(session_available(), 1000 - held);
  EXPECT_EQ(global_available(), 5000 - held);
  out(d1).clear();
  EXPECT_EQ(session_available(), 1000 - held);
  EXPECT_EQ(global_available(), 5000 - held);
  out(d2).clear();
  EXPECT_EQ(session_available(), 1000);
  EXPECT_EQ(global_available(), 5000);
}

TEST_F(credit_test, a_chunk_nobody_forwards_is_released_at_once) {
  // Templates only.
  send(message(1, 0, [&](auto& b) { template_set(b, {plain_v4(256), antrea_def(257, 4, 0)}); }));
  EXPECT_EQ(session_available(), 1000);
  // Data for an unknown template.
  send(message(1, 0, [&](auto& b) { data_set(b, 300, {plain_v4_record(1)}); }));
  EXPECT_EQ(session_available(), 1000);
  // A malformed message.
  auto bad = message(1, 0, [&](auto& b) { data_set(b, 256, {plain_v4_record(1)}); });
  bad[0] = 1;
  send(bad);
  EXPECT_EQ(session_available(), 1000);
  // Every record dropped by the enricher (an Antrea template without a start time).
  flow f;
  f.src = v4(10, 0, 0, 1);
  f.dst = v4(10, 0, 0, 2);
  send(message(1, 0, [&](auto& b) { data_set(b, 257, {antrea_record(f, 4, 0)}); }));
  EXPECT_EQ(state_of<enricher_state>(e).status.dropped_no_start_time, 1u);
  EXPECT_EQ(session_available(), 1000);
  EXPECT_EQ(global_available(), 5000);
  EXPECT_TRUE(out(d1).empty());
  EXPECT_TRUE(out(d2).empty());
}

TEST_F(credit_test, a_paused_reader_resumes_once_when_the_last_holder_drops) {
  budgets.session = std::make_shared<byte_budget>(100);
  auto m = message(1, 0, [&](auto& b) {
    template_set(b, {plain_v4(256)});
    data_set(b, 256, std::vector<bytes>(6, plain_v4_record(1)));
  });
  ASSERT_GT(m.size(), 100u);
  // What a reader does: read a chunk, hand it over, wait while the budget is spent.
  auto chunk = make_chunk(m, budgets);
  EXPECT_TRUE(budgets.session->spent());
  int resumed = 0;
  ASSERT_TRUE(budgets.session->wait([&] { ++resumed; }));
  caf::anon_send(s, messages::frames{std::move(chunk)});
  run();
  ASSERT_EQ(out(d1).size(), 1u);
  ASSERT_GT(out(d1)[0].hold->size(), 100u);
  EXPECT_EQ(resumed, 0); // the payload's credit keeps the budget spent
  out(d2).clear();
  EXPECT_EQ(resumed, 0);
  out(d1).clear();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(session_available(), 100);
}

} // namespace
} // namespace fa::actors::test
