#pragma once

// CPU time of the calling thread, for the in-process benchmarks: what the code under test
// costs, not what the machine's other work takes from it (wall time on a shared machine
// measures the neighbours too).

#include <time.h>

namespace fa::bench {

/// CPU time of this thread, ns.
inline double cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

} // namespace fa::bench
