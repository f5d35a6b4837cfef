#pragma once

// The CAF scheduler's settings (README "Configuration", issue 15): how many workers, and how an
// idle worker waits for work. CAF 0.17's work-stealing defaults keep every idle worker
// polling for ~25 ms after each message (100 polls in a row, then 500 polls 50 us apart,
// each a nanosleep and a wake-up) before it sleeps on its condition variable: a process
// that gets a message every few milliseconds (Pod updates, timers, a trickle of records)
// never sleeps, and spends a tenth of a core, and up to a third of its CPU under load,
// looking for work. Ours look a few times and then sleep: a message sent to a sleeping
// worker wakes it at once (CAF notifies the condition variable), so latency stays.

#include "config/config.hpp"

#include <caf/actor_system_config.hpp>

#include <chrono>

namespace fa::app {

/// The interval between two looks in the `idle_poll` phase (CAF's default).
inline constexpr std::chrono::microseconds idle_poll_interval{50};

/// Sets `scheduler.max-threads` and `work-stealing.*` in `cfg` from `runtime`.
void apply_scheduler_settings(caf::actor_system_config& cfg, const config::runtime_config& runtime,
                              unsigned hardware_threads);

} // namespace fa::app
