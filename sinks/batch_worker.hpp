#pragma once

// The thread of a batch destination (ClickHouse, flow log): blocking writes (an HTTP
// insert, a file write) run here, never on an actor's thread (DESIGN 4). It takes one
// batch at a time from the destination's actor, writes it through a `batch_backend`,
// and on a failure that may pass (an outage, a full disk) tries the same batch again
// after a backoff that doubles from `retry_min` to `retry_max`; it reports every attempt.
//
// A dedicated thread rather than a `caf::detached` actor: while a request blocks (up to
// its timeout during an outage) the actor still takes batches, applies `on_full`
// against its queue bound, and answers status and drain requests.

#include "sinks/batch_backend.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fa::sinks {

struct retry_policy {
  std::chrono::milliseconds min{1000};
  std::chrono::milliseconds max{60000};
};

class batch_worker {
 public:
  /// Called on the worker's thread after every attempt at batch `job`, with how long it
  /// took; `final` is false when the batch will be tried again. Must not block.
  using report_fn = std::function<void(std::uint64_t job, const write_report& r,
                                       std::chrono::nanoseconds took, bool final)>;

  /// Starts the thread, named `thread_name` (15 characters at most are kept).
  batch_worker(std::string thread_name, std::shared_ptr<batch_backend> backend, retry_policy retry,
               report_fn report);
  ~batch_worker(); ///< stops: cancels a write in progress, abandons the batch, joins
  batch_worker(const batch_worker&) = delete;
  batch_worker& operator=(const batch_worker&) = delete;

  /// Hands over the next batch; the previous one must have had its final report.
  void submit(std::uint64_t job, std::vector<payload_ptr> batch);

 private:
  void run();

  std::shared_ptr<batch_backend> backend_;
  retry_policy retry_;
  report_fn report_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<std::pair<std::uint64_t, std::vector<payload_ptr>>> next_;
  std::thread thread_;
};

} // namespace fa::sinks
