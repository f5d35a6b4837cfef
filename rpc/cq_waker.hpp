#pragma once

// Wakes the thread that drives a gRPC completion queue from any other thread: a
// grpc::Alarm set in the past completes at once on the queue with our tag (gRPC's way of
// injecting work into a queue). At most one alarm is in flight; wakes while it is are
// folded into it.

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <mutex>

namespace fa::rpc {

class cq_waker {
 public:
  cq_waker(grpc::CompletionQueue* cq, void* tag)
      : cq_(cq)
      , tag_(tag) {}

  /// From any thread: the queue yields the tag soon. `before` runs under the lock first
  /// (to queue the work the wake is for).
  template <class F>
  void wake(F&& before) {
    std::lock_guard guard{mtx_};
    if (!open_)
      return;
    before();
    if (armed_)
      return;
    armed_ = true;
    alarm_.Set(cq_, gpr_time_0(GPR_CLOCK_REALTIME), tag_);
  }
  void wake() {
    wake([] {});
  }

  /// On the queue's thread when the tag came back: `take` runs under the lock (to take
  /// the queued work), and the next wake sets the alarm again.
  template <class F>
  void taken(F&& take) {
    std::lock_guard guard{mtx_};
    armed_ = false;
    take();
  }

  /// Before the queue shuts down: wakes after this do nothing.
  void close() {
    std::lock_guard guard{mtx_};
    open_ = false;
  }

 private:
  std::mutex mtx_;
  grpc::CompletionQueue* cq_;
  void* tag_;
  grpc::Alarm alarm_;
  bool armed_ = false;
  bool open_ = true;
};

} // namespace fa::rpc
