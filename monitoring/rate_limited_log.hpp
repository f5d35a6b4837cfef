#pragma once

// Rate limit for warnings about bad input (STYLE, errors: bad bytes from the network are
// counted, dropped and logged with a rate limit). An exporter that sends garbage, skips
// sequence numbers or forgets its templates does so in every message; the metrics count
// each event, the log says it once and then at most `burst` times per `interval`, each
// line carrying how many were left out since the previous one.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace fa::monitoring {

/// One limiter per session and kind of event. Not thread-safe: it lives in one actor's
/// state (or on one strand), like the session it limits.
class log_rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  /// Defaults: the first event is logged, then at most one every 10 s.
  explicit log_rate_limiter(std::uint32_t burst = 1,
                            clock::duration interval = std::chrono::seconds{10})
      : burst_(burst == 0 ? 1 : burst)
      , interval_(interval) {}

  /// Records an event at `now`. When it may be logged, returns how many events were
  /// suppressed since the last logged one (and forgets them); otherwise nullopt.
  std::optional<std::uint64_t> admit(clock::time_point now = clock::now()) {
    if (used_ == 0 || now - window_start_ >= interval_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ < burst_) {
      ++used_;
      auto n = suppressed_;
      suppressed_ = 0;
      return n;
    }
    ++suppressed_;
    return std::nullopt;
  }

  /// Events not logged since the last one that was (for a closing summary).
  std::uint64_t suppressed() const { return suppressed_; }

 private:
  std::uint32_t burst_;
  clock::duration interval_;
  clock::time_point window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
};

/// The same limit for events not tied to one session or thread (for example failed TLS
/// handshakes, reported by many connections on the io threads): a mutex around one
/// limiter, taken only when such an event happens, never per record.
class shared_log_rate_limiter {
 public:
  using clock = log_rate_limiter::clock;

  explicit shared_log_rate_limiter(std::uint32_t burst = 1,
                                   clock::duration interval = std::chrono::seconds{10})
      : limiter_(burst, interval) {}

  std::optional<std::uint64_t> admit(clock::time_point now = clock::now()) {
    std::lock_guard guard{mtx_};
    return limiter_.admit(now);
  }

 private:
  std::mutex mtx_;
  log_rate_limiter limiter_;
};

} // namespace fa::monitoring
