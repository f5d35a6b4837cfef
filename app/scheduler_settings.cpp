#include "app/scheduler_settings.hpp"

namespace fa::app {

void apply_scheduler_settings(caf::actor_system_config& cfg, const config::runtime_config& runtime,
                              unsigned hardware_threads) {
  cfg.set("scheduler.max-threads",
          static_cast<std::size_t>(config::resolved_workers(runtime, hardware_threads)));
  // CAF 0.17 policy::work_stealing::dequeue: three phases, each `attempts` looks at the
  // worker's own queue, stealing from another every `steal-interval` looks, with
  // `sleep-duration` between looks; the third ("relaxed") waits on a condition variable
  // that a message for the worker signals, timing out after its sleep duration to steal.
  cfg.set("work-stealing.aggressive-poll-attempts", std::size_t{runtime.idle_spin});
  cfg.set("work-stealing.aggressive-steal-interval", std::size_t{10});
  cfg.set("work-stealing.moderate-poll-attempts",
          static_cast<std::size_t>(runtime.idle_poll / idle_poll_interval));
  cfg.set("work-stealing.moderate-steal-interval", std::size_t{5});
  cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{idle_poll_interval});
  cfg.set("work-stealing.relaxed-steal-interval", std::size_t{1});
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{runtime.idle_sleep});
  // CAF 0.17 resumes an actor for at most `max-throughput` messages, then puts it back
  // at the end of its worker's queue (resumable::resume_later), so a busy actor shares
  // its worker with the others queued there.
  // 0 leaves CAF's default, no limit (SIZE_MAX, which its config cannot hold: it parses
  // settings as signed 64-bit integers and refuses the value).
  if (runtime.max_throughput > 0)
    cfg.set("scheduler.max-throughput", std::size_t{runtime.max_throughput});
}

} // namespace fa::app
