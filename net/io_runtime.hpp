#pragma once

// The one asio::io_context of the process and the threads that run it (DESIGN 4).

#include <asio.hpp>

#include <chrono>
#include <thread>
#include <vector>

namespace fa::net {

class io_runtime {
 public:
  io_runtime()
      : guard_(asio::make_work_guard(ctx_)) {}
  ~io_runtime() { stop(); }
  io_runtime(const io_runtime&) = delete;
  io_runtime& operator=(const io_runtime&) = delete;

  asio::io_context& context() { return ctx_; }

  void start(std::size_t num_threads) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, num_threads); ++i)
      threads_.emplace_back([this] { ctx_.run(); });
  }

  /// Lets the handlers still queued (closes, cancellations) run to completion, for at
  /// most `timeout`, then stops. Sockets and timers whose last owner is a handler are
  /// thus destroyed while their io_context is fully alive.
  void drain(std::chrono::milliseconds timeout) {
    guard_.reset();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ctx_.stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    stop();
  }

  /// Stops the context and joins the threads; handlers not yet run are dropped.
  void stop() {
    guard_.reset();
    ctx_.stop();
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
    threads_.clear();
  }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

} // namespace fa::net
