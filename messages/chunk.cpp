#include "messages/chunk.hpp"

namespace fa::messages {

bool session_budget::pause(std::function<void()> resume) {
  resume_ = std::move(resume);
  paused_.store(true);
  // A release may have happened between the failed acquire and arming: re-check, and
  // whoever flips `paused_` back first runs the callback.
  if (available_.load() > 0 && paused_.exchange(false)) {
    resume_ = nullptr;
    return false;
  }
  return true;
}

void session_budget::release(std::int64_t n) {
  auto before = available_.fetch_add(n);
  if (before <= 0 && before + n > 0 && paused_.exchange(false)) {
    auto f = std::move(resume_);
    resume_ = nullptr;
    if (f)
      f();
  }
}

chunk::chunk(std::size_t capacity, session_budget_ptr budget)
  : data_(new std::uint8_t[capacity]), capacity_(capacity), budget_(std::move(budget)) {
  if (budget_)
    budget_->acquire(static_cast<std::int64_t>(capacity_));
}

chunk::~chunk() {
  if (budget_)
    budget_->release(static_cast<std::int64_t>(capacity_));
}

} // namespace fa::messages
