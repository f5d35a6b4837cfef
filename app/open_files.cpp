#include "app/open_files.hpp"

#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"

#include <sys/resource.h>

#include <memory>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

fd_limit raise_fd_limit(std::uint64_t max_sessions) {
  fd_limit out;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return out;
  out.before = rl.rlim_cur;
  out.hard = rl.rlim_max;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      rl = raised;
  }
  out.soft = rl.rlim_cur;
  auto fmt = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string{"unlimited"} : std::to_string(v);
  };
  log(log_level::info, "open file limit",
      {{"soft", fmt(rl.rlim_cur)}, {"hard", fmt(rl.rlim_max)}, {"was", fmt(out.before)}});
  if (rl.rlim_cur != RLIM_INFINITY && max_sessions + fd_headroom > rl.rlim_cur)
    log(log_level::warn, "open file limit below max_sessions",
        {{"limit", fmt(rl.rlim_cur)},
         {"max_sessions", std::to_string(max_sessions)},
         {"needed", std::to_string(max_sessions + fd_headroom)},
         {"hint", "raise the hard limit (ulimit -Hn, LimitNOFILE, the container runtime's "
                  "nofile) or lower collector.max_sessions; at the limit new connections "
                  "wait in the accept queue"}});
  return out;
}

net::accept_error_handler count_accept_failures(monitoring::metrics& metrics, std::string transport,
                                                std::string address) {
  // One limiter per listener: it pauses up to a second between failures, so a line per
  // 10 s says it all, with how many were left out.
  auto limiter = std::make_shared<monitoring::shared_log_rate_limiter>();
  return [&metrics, transport = std::move(transport), address = std::move(address),
          limiter](const net::accept_failure& f, const asio::error_code& ec) {
    metrics.accept_failures(transport, f.reason).Increment();
    if (auto suppressed = limiter->admit())
      log(log_level::warn, "accept failed",
          {{"transport", transport},
           {"address", address},
           {"reason", std::string{f.reason}},
           {"error", ec.message()},
           {"retry_in_ms", std::to_string(f.retry_in.count())},
           {"suppressed", std::to_string(*suppressed)}});
  };
}

} // namespace fa::app
