#pragma once

// Wall-clock time as the status, the metrics and IPFIX export headers carry it.
// Header-only, no dependencies.

#include <chrono>
#include <cstdint>

namespace fa::base {

/// Seconds since the Unix epoch, now (system clock): for `since` fields, reload
/// timestamps and IPFIX exportTime (RFC 7011 3.1). Not for measuring durations: use a
/// steady clock for those.
inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace fa::base
