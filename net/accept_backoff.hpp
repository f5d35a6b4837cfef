#pragma once

// What a failed accept() means for a listener's accept loop (issue 16, defect 4). At the
// open-file limit (EMFILE, ENFILE) or short of kernel memory (ENOBUFS, ENOMEM) the
// pending connection stays in the backlog and the next accept fails at once: retrying
// without a pause spins a core and starves everything else. Those failures wait, from
// 50 ms doubling to 1 s while they last; a connection that died in the backlog
// (ECONNABORTED and the like) is skipped and the next one accepted at once.

#include <asio.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <string_view>

namespace fa::net {

struct accept_failure {
  /// The metric's reason: "fd_limit", "no_memory", "aborted" or "other".
  std::string_view reason;
  std::chrono::milliseconds retry_in{0};
};

/// Called by a listener for every failed accept, on its io thread: count and log it.
using accept_error_handler = std::function<void(const accept_failure&, const asio::error_code&)>;

class accept_backoff {
 public:
  static constexpr std::chrono::milliseconds first{50};
  static constexpr std::chrono::milliseconds max{1000};

  /// After a failed accept: what it was and how long to wait before the next one.
  accept_failure failed(const asio::error_code& ec) {
    accept_failure f{classify(ec)};
    if (f.reason == "aborted")
      return f;
    delay_ = delay_.count() == 0 ? first : std::min(delay_ * 2, max);
    f.retry_in = delay_;
    return f;
  }

  /// After a connection was accepted: the next failure waits the shortest time again.
  void succeeded() { delay_ = std::chrono::milliseconds{0}; }

  static std::string_view classify(const asio::error_code& ec) {
    if (ec.category() != asio::system_category())
      return "other";
    switch (ec.value()) {
    case EMFILE:
    case ENFILE:
      return "fd_limit";
    case ENOBUFS:
    case ENOMEM:
      return "no_memory";
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case EINTR:
    case EAGAIN:
      return "aborted";
    default:
      return "other";
    }
  }

 private:
  std::chrono::milliseconds delay_{0};
};

} // namespace fa::net
