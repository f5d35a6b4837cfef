#pragma once

// What the libgrpc servers (rpc/stream_server, test/bench/grpc_sink) are built on: one
// completion queue driven by one thread (gRPC's async API, so nothing blocks an actor),
// a waker for other threads, and the shutdown order gRPC requires: stop the server
// (cancelling what is left), close the waker, shut the queue down, let the thread drain
// it, join.

#include "rpc/cq_waker.hpp"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace fa::rpc {

class cq_server {
 public:
  /// Binds `host`:`port` (an address; IPv6 without brackets) with the services already
  /// registered on `b`; `bound` receives the port. `wake_tag` is what the waker yields.
  /// Returns why it cannot listen.
  std::optional<std::string> build(grpc::ServerBuilder& b, const std::string& host,
                                   std::uint16_t port,
                                   std::shared_ptr<grpc::ServerCredentials> credentials,
                                   void* wake_tag, int& bound) {
    // Appended piece by piece: `"[" + host` trips GCC 12's -Wrestrict at -O3 (a false
    // positive in libstdc++'s operator+).
    std::string authority;
    const bool v6 = host.find(':') != std::string::npos;
    if (v6)
      authority += '[';
    authority += host;
    if (v6)
      authority += ']';
    authority += ':';
    authority += std::to_string(port);
    // gRPC's per-message cost (README, "gRPC in vs IPFIX over TCP in"): channelz (gRPC's
    // introspection service, which we do not serve) timestamps every message received.
    b.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
    // Debian builds abseil without NDEBUG, so every absl::Mutex lock runs abseil's
    // debug-only deadlock detector (a process-wide graph under a global lock, the
    // thread's held-lock list), and gRPC takes several per message: an eighth of its CPU
    // per message. Off, as in abseil's release builds; process-wide, and idempotent.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    b.AddListeningPort(authority, credentials ? credentials : grpc::InsecureServerCredentials(),
                       &bound);
    cq_ = b.AddCompletionQueue();
    waker_.emplace(cq_.get(), wake_tag);
    server_ = b.BuildAndStart();
    if (!server_ || bound == 0)
      return "cannot listen on " + authority;
    return std::nullopt;
  }

  /// Starts the thread that drives the queue.
  void run(std::function<void()> loop) { thread_ = std::thread{std::move(loop)}; }

  void shutdown() {
    stopping = true;
    if (server_)
      server_->Shutdown(std::chrono::system_clock::now());
    if (waker_)
      waker_->close();
    if (cq_)
      cq_->Shutdown();
    if (thread_.joinable())
      thread_.join();
  }

  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  /// Null before `build`.
  cq_waker* waker() { return waker_ ? &*waker_ : nullptr; }

  /// Set by shutdown (or by the owner to refuse new calls).
  std::atomic<bool> stopping{false};

 private:
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<cq_waker> waker_;
  std::thread thread_;
};

} // namespace fa::rpc
