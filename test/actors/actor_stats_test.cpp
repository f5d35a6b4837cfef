// counted_behavior (actors/actor_stats.hpp): every handled message is counted exactly
// once, the wrapped handlers answer exactly as before, and (get, stats) reports the
// messages waiting in the actor's mailbox, read by the actor itself. On CAF's
// deterministic scheduler, so counts and mailbox sizes are exact.

#include "actors/actor_stats.hpp"
#include "actors/template_registry.hpp"
#include "base/unix_time.hpp"

#include "test/actors/test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace fa::actors::test {
namespace {

/// A small interface with the shapes the service's handlers have: a message taken by
/// mutable reference and moved from, a plain reply, a reply from several arguments, a
/// delegated reply (response promise), and no reply.
using probe_actor =
    caf::typed_actor<caf::reacts_to<std::string>, caf::replies_to<caf::get_atom>::with<std::string>,
                     caf::replies_to<std::int32_t, std::int32_t>::with<std::int32_t>,
                     caf::replies_to<caf::put_atom, std::int32_t>::with<bool>,
                     caf::reacts_to<caf::ok_atom>,
                     caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

struct probe_state {
  probe_state() = default;
  std::string last;
  std::vector<caf::typed_response_promise<bool>> waiting;
  static inline const char* name = "stats_probe";
};

probe_actor::behavior_type probe(probe_actor::stateful_pointer<probe_state> self) {
  return counted_behavior{
      self,
      // Moves the message's string out: the wrapper must hand over the very reference.
      [=](std::string& s) { self->state.last = std::move(s); },
      [=](caf::get_atom) { return self->state.last; },
      [=](std::int32_t a, std::int32_t b) { return a * 100 + b; },
      [=](caf::put_atom, std::int32_t x) -> caf::result<bool> {
        if (x < 0)
          return caf::make_error(caf::sec::invalid_argument, "negative");
        self->state.waiting.push_back(self->make_response_promise<bool>());
        return self->state.waiting.back();
      },
      [=](caf::ok_atom) {
        for (auto& rp : self->state.waiting)
          rp.deliver(true);
        self->state.waiting.clear();
      },
  };
}

class actor_stats_test : public actor_fixture {
 protected:
  /// (get, stats) at high priority, as the supervisor sends it, answered after one
  /// message is handled (the scheduler runs the actor for one message only).
  template <class Handle>
  messages::actor_stats stats_next(const Handle& hdl) {
    caf::scoped_actor self{sys, true};
    auto h = self->template request<caf::message_priority::high>(hdl, caf::duration{caf::infinite},
                                                                 caf::get_atom_v, stats_atom_v);
    sched.run_once();
    messages::actor_stats out;
    bool answered = false;
    h.receive(
        [&](messages::actor_stats& s) {
          out = std::move(s);
          answered = true;
        },
        [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    EXPECT_TRUE(answered);
    return out;
  }

  /// (get, stats) at normal priority, after everything queued before it.
  template <class Handle>
  messages::actor_stats stats(const Handle& hdl) {
    return request<messages::actor_stats>(hdl, caf::get_atom_v, stats_atom_v);
  }
};

TEST_F(actor_stats_test, counts_every_handled_message_once_and_leaves_replies_unchanged) {
  auto before = base::unix_seconds();
  auto p = sys.spawn(probe);
  run();
  auto s0 = stats(p);
  EXPECT_EQ(s0.handled, 0u);
  EXPECT_EQ(s0.mailbox, 0u);
  EXPECT_EQ(s0.type, "stats_probe");
  EXPECT_GE(s0.since, before);
  EXPECT_LE(s0.since, before + 60);

  caf::anon_send(p, std::string{"first"});
  caf::anon_send(p, std::string{"second"});
  run();
  EXPECT_EQ(request<std::string>(p, caf::get_atom_v), "second");
  EXPECT_EQ(request<std::int32_t>(p, std::int32_t{7}, std::int32_t{3}), 703);
  // 2 strings, 1 get, 1 pair; the stats requests themselves are not counted.
  EXPECT_EQ(stats(p).handled, 4u);
  EXPECT_EQ(stats(p).handled, 4u);

  // A delegated reply still arrives through its promise, and an error reply is an error.
  caf::scoped_actor self{sys, true};
  auto delegated = self->request(p, caf::infinite, caf::put_atom_v, std::int32_t{1});
  auto refused = self->request(p, caf::infinite, caf::put_atom_v, std::int32_t{-1});
  run();
  caf::anon_send(p, caf::ok_atom_v);
  run();
  bool delivered = false;
  delegated.receive([&](bool x) { delivered = x; },
                    [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_TRUE(delivered);
  bool failed = false;
  refused.receive([&](bool) { ADD_FAILURE() << "a negative put must be refused"; },
                  [&](caf::error& err) { failed = err == caf::sec::invalid_argument; });
  EXPECT_TRUE(failed);
  EXPECT_EQ(stats(p).handled, 7u); // + 2 puts + 1 ok
}

TEST_F(actor_stats_test, reports_the_messages_waiting_behind_the_request) {
  auto p = sys.spawn(probe);
  run();
  for (int i = 0; i < 5; ++i)
    caf::anon_send(p, std::string(static_cast<std::size_t>(i), 'x'));
  // The high-priority request is handled first: five messages wait behind it.
  auto s = stats_next(p);
  EXPECT_EQ(s.mailbox, 5u);
  EXPECT_EQ(s.handled, 0u);
  sched.run_once();
  sched.run_once();
  s = stats_next(p);
  EXPECT_EQ(s.mailbox, 3u);
  EXPECT_EQ(s.handled, 2u);
  run();
  s = stats_next(p);
  EXPECT_EQ(s.mailbox, 0u);
  EXPECT_EQ(s.handled, 5u);
  EXPECT_EQ(request<std::string>(p, caf::get_atom_v), "xxxx");
}

// The service's own actors answer too (the template registry stands for all of them:
// each returns its behaviour through counted_behavior).
TEST_F(actor_stats_test, service_actors_answer_with_their_own_name) {
  auto table = std::make_shared<output_template_table>();
  auto reg = sys.spawn(template_registry, table);
  auto dest = sys.spawn(destination_probe);
  run();
  for (int i = 0; i < 3; ++i)
    caf::anon_send(reg, caf::get_atom_v);
  auto s = stats_next(reg);
  EXPECT_EQ(s.type, "template_registry");
  EXPECT_EQ(s.mailbox, 3u);
  run();
  EXPECT_EQ(stats(reg).handled, 3u);
  EXPECT_EQ(request<std::uint64_t>(reg, caf::get_atom_v), 0u);
  EXPECT_EQ(stats(reg).handled, 4u);
  EXPECT_TRUE(request<bool>(dest, drain_atom_v));
  auto d = stats(dest);
  EXPECT_EQ(d.type, "destination_probe");
  EXPECT_EQ(d.handled, 1u);
}

} // namespace
} // namespace fa::actors::test
