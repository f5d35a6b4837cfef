#pragma once

// Hands the heap's free pages back to the kernel every `runtime.memory_trim_interval`.
//
// Why: app/main.cpp raises glibc's trim threshold to 64 MiB so that receive chunks and
// payloads freed on other threads than the ones that took them are reused, not faulted in
// zeroed again (page faults were 10% of the CPU with TLS in). The price is memory that no
// one uses: each of glibc's arenas may keep up to that much free at its top, and free
// chunks inside it after a burst. In aggregate mode at 1 M flows that was ~90 octets per
// flow of resident memory above the flow table (README, aggregate benchmark). One trim
// every few seconds returns it; the next interval faults in only what it needs again.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>

namespace fa::monitoring {

/// The process's resident memory in octets (/proc/self/statm), 0 when unreadable.
std::uint64_t resident_bytes();

/// Trims every malloc arena (glibc `malloc_trim(0)`: the free top of each heap and the
/// free pages inside it) and returns the resident octets that went back to the kernel
/// (0 when RSS did not fall, e.g. because another thread faulted pages in meanwhile).
std::uint64_t trim_heap();

/// When trims are due: every `interval` (0 = never), counted from construction.
class heap_trim_schedule {
 public:
  using clock = std::chrono::steady_clock;

  heap_trim_schedule(clock::duration interval, clock::time_point now)
      : interval_(interval)
      , last_(now) {}

  /// A new interval (reload); counts from the last trim.
  void set_interval(clock::duration interval) { interval_ = interval; }

  /// True when a trim is due at `now`; the next one is then due an interval later.
  bool due(clock::time_point now) {
    if (interval_ <= clock::duration::zero() || now - last_ < interval_)
      return false;
    last_ = now;
    return true;
  }

 private:
  clock::duration interval_;
  clock::time_point last_;
};

/// The schedule and its metrics: `flow_aggregator_heap_trims_total` and
/// `flow_aggregator_heap_trimmed_bytes_total` (resident octets given back).
class heap_trimmer {
 public:
  heap_trimmer(prometheus::Registry& registry, heap_trim_schedule::clock::duration interval);

  void set_interval(heap_trim_schedule::clock::duration interval) {
    schedule_.set_interval(interval);
  }

  /// Trims when due; called by the main thread about once a second, off the data path.
  void tick(heap_trim_schedule::clock::time_point now);

 private:
  heap_trim_schedule schedule_;
  prometheus::Counter* trims_;
  prometheus::Counter* trimmed_bytes_;
};

} // namespace fa::monitoring
