#pragma once

// Helpers for the actor tests: a deterministic CAF fixture (test_coordinator, STYLE
// "Tests"), probe actors that record what they receive, and small builders for input
// messages and batches. Packets are built with message_builder, not hex blobs.

#include "actors/actor_stats.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "actors/template_planner.hpp"
#include "ipfix/message.hpp"
#include "ipfix/message_builder.hpp"
#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "test/support/ipfix_records.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fa::actors::test {

using namespace fa::test; // templates, records, messages and sessions

// -- the deterministic fixture ---------------------------------------------------------

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  cfg.add_message_types<caf::id_block::fa>();
  return cfg;
}

/// An actor system on CAF's deterministic scheduler: nothing runs until the test calls
/// `run()`, and time moves only with `trigger_timeout()` / `advance_time()`.
class actor_fixture : public ::testing::Test {
 protected:
  actor_fixture()
      : sys(testing_config(cfg))
      , sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // Make sure the clock does not start at 0 (as CAF's own fixture does).
    sched.clock().current_time += std::chrono::hours(1);
  }

  ~actor_fixture() override { sched.run(); }

  /// Runs every actor until all mailboxes are empty (timeouts are not triggered).
  std::size_t run() { return sched.run(); }

  /// The state of a stateful actor spawned from a function; valid while it lives.
  template <class State, class Handle>
  State& state_of(const Handle& hdl) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(hdl);
    EXPECT_NE(ptr, nullptr);
    using impl = typename Handle::template stateful_base<State>;
    return dynamic_cast<impl&>(*ptr).state;
  }

  /// Sends a request from a blocking helper actor, runs the system, and returns the
  /// answer (as CAF's test_coordinator_fixture::request does).
  template <class T, class Handle, class... Ts>
  T request(const Handle& hdl, Ts... xs) {
    caf::scoped_actor self{sys, true};
    auto handle = self->request(hdl, caf::infinite, std::move(xs)...);
    run();
    T result{};
    bool answered = false;
    handle.receive(
        [&](T& x) {
          result = std::move(x);
          answered = true;
        },
        [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    EXPECT_TRUE(answered);
    return result;
  }

  /// Time until the earliest pending timeout, or -1ms when none is pending.
  std::chrono::milliseconds next_timeout_in() {
    auto& clk = sched.clock();
    if (clk.schedule().empty())
      return std::chrono::milliseconds{-1};
    return std::chrono::duration_cast<std::chrono::milliseconds>(clk.schedule().begin()->first -
                                                                 clk.now());
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
};

// -- probes ----------------------------------------------------------------------------

struct enricher_probe_state {
  enricher_probe_state() = default;
  std::vector<messages::data_batch> batches;
  std::vector<labels::pod_snapshot_ptr> snapshots;
  static inline const char* name = "enricher_probe";
};

/// Stands in for an enricher: keeps every batch (and so its chunk) until cleared.
inline enricher_actor::behavior_type
enricher_probe(enricher_actor::stateful_pointer<enricher_probe_state> self) {
  return counted_behavior{
      self,
      [=](messages::data_batch& b) { self->state.batches.push_back(std::move(b)); },
      [=](messages::label_snapshot& s) { self->state.snapshots.push_back(std::move(s.pods)); },
      [=](messages::enricher_reconfig&) {}, // config reloads are not probed here
      [=](caf::get_atom) { return messages::enricher_status{}; },
  };
}

/// What a destination probe received: the payload, and the credit when it was given one
/// (on_full = "block").
struct probe_batch {
  std::shared_ptr<const messages::enriched_payload> payload;
  messages::payload_credit hold;
  const messages::enriched_payload* operator->() const { return payload.get(); }
  const messages::enriched_payload& operator*() const { return *payload; }
};

struct destination_probe_state {
  destination_probe_state() = default;
  std::vector<probe_batch> payloads;
  static inline const char* name = "destination_probe";
};

/// Stands in for a destination: keeps every payload (and so its credit) until cleared.
inline destination_actor::behavior_type
destination_probe(destination_actor::stateful_pointer<destination_probe_state> self) {
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        self->state.payloads.push_back({std::move(b.payload), std::move(b.hold)});
      },
      [=](drain_atom) { return true; },
      [=](caf::get_atom) { return messages::destination_status{}; },
  };
}

} // namespace fa::actors::test
