#pragma once

// ipfix-loadgen's report of a run, TCP/TLS and UDP alike: the JSON file (--report), the
// summary line on stderr, and the exit code.

#include "tools/loadgen/options.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace fa::tools {

using steady = std::chrono::steady_clock;

/// What one exporter session did.
struct session_stats {
  std::uint64_t records = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  bool complete = false;
  bool peer_closed_early = false;  ///< TCP/TLS: the peer closed before all was sent
  bool peer_close_timeout = false; ///< TCP/TLS: the peer did not close in time after
  std::string error;
  steady::time_point last_write{};
};

/// Every session's stats added up.
struct run_totals {
  session_stats total;
  steady::time_point last{}; ///< the last write of any session
  bool complete = true;
  int failures = 0; ///< sessions that ended in an error
  int stopped = 0;  ///< sessions the peer closed before all was sent
  int no_close = 0; ///< sessions whose peer did not close in time
  std::string first_error;

  void add(const session_stats& st);
};

/// Writes the report and the summary of a run that started at `start`; returns the exit
/// code: 1 when a session failed, 3 when the peer closed some early, 130 when
/// `interrupted` before all was sent, else 0.
int report_run(const loadgen_config& cfg, const run_totals& t, steady::time_point start,
               bool interrupted);

} // namespace fa::tools
