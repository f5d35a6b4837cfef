#pragma once

// The deadlines of a TCP or TLS exporter session, on one timer per connection:
// - `collector.message_timeout`: a message whose first octets arrived must be complete
//   within it ("message_timeout"). A held message can always be completed, budgets or
//   not (net/frame_buffer.hpp), so only the exporter can keep it waiting.
// - `collector.first_message_timeout` (issue 16, defect 7): the session must complete a
//   message within it of its start, after the TLS handshake ("first_message_timeout"),
// - `collector.tcp_idle_timeout`: and then one at least that often ("idle_timeout"), so
//   a silent connection cannot hold a session slot forever.
// The timer is armed for the earliest deadline and re-checks when it fires: a read that
// completes or starts a message costs a clock read and a few stores, and the timer is
// re-armed only when a message starts to be held and is due before the armed time.

#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <string_view>

namespace fa::net {

struct session_timeouts {
  std::chrono::milliseconds message{std::chrono::seconds{30}};
  std::chrono::milliseconds first_message{std::chrono::seconds{30}};
  std::chrono::milliseconds idle{std::chrono::minutes{30}};
};

class session_deadline {
 public:
  using clock = std::chrono::steady_clock;

  session_deadline(const asio::any_io_executor& strand, session_timeouts t)
      : timer_(strand)
      , timeouts_(t) {}

  /// When the session starts reading, on the connection's strand: the first-message
  /// deadline runs from now. `expire(reason)` runs on the strand when a deadline
  /// passes; `keep` (a shared pointer to the connection) stays alive with the timer.
  template <class Keep, class Expire>
  void start(Keep keep, Expire expire) {
    base_ = clock::now();
    arm(std::move(keep), std::move(expire));
  }

  /// After each read: `held` = an incomplete message is held, `started` = it began
  /// with this read, `completed` = the read completed at least one message.
  template <class Keep, class Expire>
  void update(bool held, bool started, bool completed, Keep keep, Expire expire) {
    held_ = held;
    if (!started && !completed)
      return;
    auto now = clock::now();
    if (completed) {
      base_ = now;
      any_ = true;
    }
    if (started)
      since_ = now;
    if (held && since_ + timeouts_.message < armed_at_)
      arm(std::move(keep), std::move(expire));
  }

  /// The reader waits for budget (DESIGN 3), which is not the exporter's doing: while
  /// it waits, the first-message and idle deadlines are pushed back.
  void paused(bool p) {
    if (p == paused_)
      return;
    paused_ = p;
    if (!p)
      base_ = clock::now();
  }

  void cancel() {
    cancelled_ = true;
    held_ = false;
    timer_.cancel();
  }

 private:
  clock::time_point session_due() const {
    return base_ + (any_ ? timeouts_.idle : timeouts_.first_message);
  }

  template <class Keep, class Expire>
  void arm(Keep keep, Expire expire) {
    if (cancelled_)
      return;
    auto at = session_due();
    if (held_)
      at = std::min(at, since_ + timeouts_.message);
    armed_at_ = at;
    timer_.expires_at(at); // a wait pending ends with operation_aborted
    timer_.async_wait([this, keep = std::move(keep), expire](asio::error_code ec) mutable {
      if (ec || cancelled_)
        return; // cancelled, or re-armed for an earlier deadline
      armed_at_ = clock::time_point::max();
      auto now = clock::now();
      if (held_ && now >= since_ + timeouts_.message) {
        expire(std::string_view{"message_timeout"});
        return;
      }
      if (paused_)
        base_ = now;
      else if (now >= session_due()) {
        expire(std::string_view{any_ ? "idle_timeout" : "first_message_timeout"});
        return;
      }
      arm(std::move(keep), std::move(expire)); // a later deadline now
    });
  }

  asio::steady_timer timer_;
  session_timeouts timeouts_;
  clock::time_point base_{};  ///< start, last completed message or end of a budget wait
  clock::time_point since_{}; ///< when the message held began
  clock::time_point armed_at_ = clock::time_point::max();
  bool held_ = false;
  bool any_ = false; ///< a message was completed
  bool paused_ = false;
  bool cancelled_ = false;
};

} // namespace fa::net
