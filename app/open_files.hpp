#pragma once

// The process and its open-file limit (issue 16, defect 4): every exporter session over
// TCP or TLS holds a descriptor, so the limit is raised as far as allowed at start, a
// configuration that cannot fit is warned about, and a listener that reaches the limit
// anyway pauses, counts and logs instead of spinning (net/accept_backoff.hpp).

#include "monitoring/metrics.hpp"
#include "net/accept_backoff.hpp"

#include <cstdint>
#include <string>

namespace fa::app {

/// Descriptors the process needs besides its sessions: listeners, destinations, the
/// admin server and its workers, the Kubernetes watch, logs, epoll and timers.
constexpr std::uint64_t fd_headroom = 256;

struct fd_limit {
  std::uint64_t before = 0; ///< the soft RLIMIT_NOFILE at start
  std::uint64_t soft = 0;   ///< after raising it
  std::uint64_t hard = 0;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit, logs the result, and warns when
/// `max_sessions` + `fd_headroom` descriptors do not fit under it.
fd_limit raise_fd_limit(std::uint64_t max_sessions);

/// Counts the failed accepts of a `transport` listener on `address` in
/// accept_failures_total{transport,reason} and logs them, rate-limited.
net::accept_error_handler count_accept_failures(monitoring::metrics& metrics, std::string transport,
                                                std::string address);

} // namespace fa::app
