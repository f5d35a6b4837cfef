#pragma once

// batch_sink: a destination whose writes block (DESIGN 10: the ClickHouse destination, the
// flow log). The actor keeps the queue as exporter_session does (bounded in bytes, with
// `on_full`, the credits kept only with "block"; messages/batches.hpp), cuts it into
// batches (one per `commit_interval` or `max_rows`, or as soon as the writer is free),
// and answers status and drain requests. The blocking write runs on the destination's
// own thread (sinks::batch_worker), which reports back after every attempt; a failed
// batch stays at the head of the queue until it is written or rejected.

#include "actors/interfaces.hpp"
#include "monitoring/metrics.hpp"
#include "sinks/batch_worker.hpp"

#include <chrono>
#include <deque>
#include <memory>

namespace fa::actors {

/// The destination interface plus the worker's reports and the commit timer.
using batch_sink_actor = destination_actor::extend<
    // The worker's final report on batch `job`: outcome (sinks::write_outcome), rows
    // written, octets written.
    caf::reacts_to<written_atom, std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>,
    // The worker's report of a failed attempt at batch `job`, tried again after a backoff.
    caf::reacts_to<disconnected_atom, std::uint64_t>,
    // Timer: the oldest queued record has waited `commit_interval` (timer generation).
    caf::reacts_to<caf::flush_atom, std::uint64_t>>;

struct batch_sink_config {
  std::string name;
  std::string url;                    ///< shown in the status (holds no secret)
  std::string kind;                   ///< "clickhouse" or "flowlog": metrics, thread name
  std::size_t queue_size = 64u << 20; ///< octets of record payload, with on_full = "drop"
  bool block = true;                  ///< on_full = "block"
  /// A batch goes when its oldest record has waited this long (0 = as soon as the
  /// writer is free) ...
  std::chrono::milliseconds commit_interval{0};
  /// ... or when this many records are queued; a batch holds at most this many (but
  /// always at least one payload). 0 = no limit.
  std::uint64_t max_rows = 0;
  sinks::retry_policy retry;
  std::shared_ptr<sinks::batch_backend> backend;
  monitoring::metrics* metrics = nullptr;
};

struct batch_sink_state {
  batch_sink_state() = default;

  struct queued {
    sinks::payload_ptr payload;
    messages::payload_credit hold; ///< on_full = "block": released once written or dropped
    std::uint64_t records = 0;
    std::size_t bytes = 0;
    caf::actor_clock::time_point at{};
  };

  batch_sink_config cfg;
  std::deque<queued> queue;
  std::size_t queued_bytes = 0;
  std::uint64_t queued_records = 0;
  std::size_t inflight = 0; ///< entries at the head of `queue` in the batch being written
  std::uint64_t inflight_records = 0;
  std::uint64_t job = 0;
  std::uint64_t timer_gen = 0;
  bool timer_armed = false;
  std::vector<caf::typed_response_promise<bool>> drains;
  messages::destination_status status;
  monitoring::destination_metrics metrics;
  monitoring::batch_sink_metrics sink_metrics;
  prometheus::Counter* dropped_rejected = nullptr;
  /// Last member: destroyed first, so the thread is stopped before anything it reports to.
  std::unique_ptr<sinks::batch_worker> worker;
  static inline const char* name = "batch_sink";
};

batch_sink_actor::behavior_type
batch_sink(batch_sink_actor::stateful_pointer<batch_sink_state> self, batch_sink_config cfg);

} // namespace fa::actors
