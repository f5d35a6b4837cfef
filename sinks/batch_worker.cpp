#include "sinks/batch_worker.hpp"

#include <pthread.h>

namespace fa::sinks {

batch_worker::batch_worker(std::string thread_name, std::shared_ptr<batch_backend> backend,
                           retry_policy retry, report_fn report)
    : backend_(std::move(backend))
    , retry_(retry)
    , report_(std::move(report)) {
  thread_ = std::thread{[this] { run(); }};
  // Named, so that its CPU shows apart in top -H and /proc/PID/task (the benchmark).
  thread_name.resize(std::min<std::size_t>(thread_name.size(), 15));
  pthread_setname_np(thread_.native_handle(), thread_name.c_str());
}

batch_worker::~batch_worker() {
  {
    std::lock_guard guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  backend_->cancel();
  thread_.join();
}

void batch_worker::submit(std::uint64_t job, std::vector<payload_ptr> batch) {
  {
    std::lock_guard guard{mtx_};
    next_.emplace(job, std::move(batch));
  }
  cv_.notify_all();
}

void batch_worker::run() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    std::pair<std::uint64_t, std::vector<payload_ptr>> job;
    {
      std::unique_lock lock{mtx_};
      cv_.wait(lock, [this] { return stop_ || next_.has_value(); });
      if (stop_)
        return;
      job = std::move(*next_);
      next_.reset();
    }
    bool again = false;
    for (;;) {
      auto start = std::chrono::steady_clock::now();
      auto r = backend_->write(job.second, again);
      auto took = std::chrono::steady_clock::now() - start;
      {
        std::lock_guard guard{mtx_};
        if (stop_)
          return; // the destination is gone: nobody to report to
      }
      bool final = r.outcome != write_outcome::retry;
      report_(job.first, r, took, final);
      if (final) {
        backoff = std::chrono::milliseconds{0}; // the other end answered
        break;
      }
      backoff = backoff.count() == 0 ? retry_.min : std::min(backoff * 2, retry_.max);
      std::unique_lock lock{mtx_};
      if (cv_.wait_for(lock, backoff, [this] { return stop_; }))
        return;
      again = true;
    }
  }
}

} // namespace fa::sinks
