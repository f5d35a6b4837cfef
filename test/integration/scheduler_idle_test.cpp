// The scheduler settings (issue 15, app/scheduler_settings.hpp): an actor system that
// gets a message every few milliseconds, as flow-aggregator does from Pod updates and
// timers, must not spend its idle time polling for work. With CAF 0.17's work-stealing
// defaults each message had a worker poll for ~25 ms (a nanosleep every 50 us): a tenth
// of a core for nothing. The measure is the process's CPU time, not a wall-clock time,
// so a loaded machine does not make it fail (it can only make the defaults look cheaper).

#include "app/scheduler_settings.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <thread>

namespace {

using namespace std::chrono_literals;

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// CPU cores the process spends while a trivial actor gets a message every 5 ms for
/// `span` (the sender sleeps in between), with the runtime settings `rt`.
double cores_at_200_messages_per_second(const fa::config::runtime_config& rt,
                                        std::chrono::milliseconds span) {
  caf::actor_system_config cfg;
  fa::app::apply_scheduler_settings(cfg, rt, 2);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto counter = sys.spawn([](caf::event_based_actor*) { return caf::behavior{[](int) {}}; });
  // Let the workers reach their idle state first.
  std::this_thread::sleep_for(100ms);
  auto cpu0 = process_cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  for (auto next = t0; next < t0 + span; next += 5ms) {
    caf::anon_send(counter, 1);
    std::this_thread::sleep_until(next + 5ms);
  }
  auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto cores = (process_cpu_seconds() - cpu0) / wall;
  caf::anon_send_exit(counter, caf::exit_reason::user_shutdown);
  return cores;
}

TEST(scheduler_settings, reach_caf) {
  fa::config::runtime_config rt;
  rt.workers = 3;
  rt.idle_spin = 7;
  rt.idle_poll = 1ms;
  rt.idle_sleep = 20ms;
  caf::actor_system_config cfg;
  fa::app::apply_scheduler_settings(cfg, rt, 2);
  EXPECT_EQ(caf::get_or(cfg, "scheduler.max-threads", std::size_t{0}), 3u);
  EXPECT_EQ(caf::get_or(cfg, "work-stealing.aggressive-poll-attempts", std::size_t{0}), 7u);
  EXPECT_EQ(caf::get_or(cfg, "work-stealing.moderate-poll-attempts", std::size_t{0}), 20u);
  EXPECT_EQ(caf::get_or(cfg, "work-stealing.relaxed-sleep-duration", caf::timespan{0}),
            caf::timespan{20ms});
}

/// The number of messages the scheduler of an actor system made with `rt` lets an actor
/// handle before its worker moves on.
std::size_t max_throughput_of(const fa::config::runtime_config& rt) {
  caf::actor_system_config cfg;
  fa::app::apply_scheduler_settings(cfg, rt, 2);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  return sys.scheduler().max_throughput();
}

TEST(scheduler_settings, max_throughput_reaches_the_scheduler) {
  fa::config::runtime_config rt;
  rt.max_throughput = 64;
  EXPECT_EQ(max_throughput_of(rt), 64u);
  rt.max_throughput = 0; // no limit
  EXPECT_EQ(max_throughput_of(rt), std::numeric_limits<std::size_t>::max());
}

TEST(scheduler_settings, idle_workers_sleep_between_messages) {
  // The defaults: 10 looks, no polling phase, then sleep (woken by the next message).
  auto cores = cores_at_200_messages_per_second(fa::config::runtime_config{}, 2s);
  // CAF's own defaults spent 0.05-0.15 of a core here; sleeping workers spend well under 0.01.
  EXPECT_LT(cores, 0.03) << "the scheduler's idle workers poll instead of sleeping";
}

} // namespace
