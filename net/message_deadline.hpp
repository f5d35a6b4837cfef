#pragma once

// The incomplete-message timeout of a TCP or TLS exporter session
// (`collector.message_timeout`): a message whose first octets arrived must be complete
// within the timeout, or the session is closed ("message_timeout"). A held message can
// always be completed, budgets or not (net/frame_buffer.hpp), so only the exporter can
// keep it waiting. One timer per connection, armed when a message starts to be held and
// re-checked when it fires: nothing per read but two stores.

#include <asio.hpp>

#include <chrono>

namespace fa::net {

class message_deadline {
 public:
  using clock = std::chrono::steady_clock;

  message_deadline(const asio::any_io_executor& strand, std::chrono::milliseconds timeout)
      : timer_(strand)
      , timeout_(timeout) {}

  /// After each read, on the connection's strand: `held` = an incomplete message is
  /// held, `started` = it began with this read. `expire()` runs on the strand once the
  /// message held has waited `timeout`; `keep` (a shared pointer to the connection)
  /// stays alive with the pending timer.
  template <class Keep, class Expire>
  void update(bool held, bool started, Keep keep, Expire expire) {
    held_ = held;
    if (!held)
      return;
    if (started)
      since_ = clock::now();
    if (!armed_)
      arm(since_ + timeout_, std::move(keep), std::move(expire));
  }

  void cancel() {
    held_ = false;
    timer_.cancel();
  }

 private:
  template <class Keep, class Expire>
  void arm(clock::time_point at, Keep keep, Expire expire) {
    armed_ = true;
    timer_.expires_at(at);
    timer_.async_wait([this, keep = std::move(keep), expire](asio::error_code ec) mutable {
      armed_ = false;
      if (ec || !held_)
        return;
      auto due = since_ + timeout_;
      if (clock::now() >= due)
        expire();
      else // a later message is held now: wait for its own deadline
        arm(due, std::move(keep), std::move(expire));
    });
  }

  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  clock::time_point since_{};
  bool held_ = false;
  bool armed_ = false;
};

} // namespace fa::net
