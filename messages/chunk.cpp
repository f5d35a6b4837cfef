#include "messages/chunk.hpp"

#include <utility>

namespace fa::messages {

void byte_budget::release(std::int64_t n) {
  auto before = available_.fetch_add(n);
  if (before > 0 || before + n <= 0)
    return;
  // This release made the budget positive: wake everyone parked on it. A waiter that
  // parked after our fetch_add saw a positive budget under the lock and did not park.
  std::vector<std::function<void()>> woken;
  {
    std::lock_guard guard{mtx_};
    woken.swap(waiters_);
  }
  for (auto& f : woken)
    f();
}

bool byte_budget::wait(std::function<void()> resume) {
  std::lock_guard guard{mtx_};
  if (available_.load() > 0)
    return false;
  waiters_.push_back(std::move(resume));
  return true;
}

credit::credit(session_budgets b, std::size_t n)
    : budgets_(std::move(b))
    , n_(n) {
  auto v = static_cast<std::int64_t>(n_);
  if (budgets_.session)
    budgets_.session->acquire(v);
  if (budgets_.global)
    budgets_.global->acquire(v);
}

credit::~credit() {
  auto v = static_cast<std::int64_t>(n_);
  if (budgets_.session)
    budgets_.session->release(v);
  if (budgets_.global)
    budgets_.global->release(v);
}

credit::credit(credit&& other) noexcept
    : budgets_(std::move(other.budgets_))
    , n_(std::exchange(other.n_, 0)) {
  other.budgets_ = {};
}

credit& credit::operator=(credit&& other) noexcept {
  if (this != &other) {
    credit old{std::move(*this)}; // released when this returns
    budgets_ = std::move(other.budgets_);
    other.budgets_ = {};
    n_ = std::exchange(other.n_, 0);
  }
  return *this;
}

chunk::chunk(std::size_t capacity, session_budgets budgets)
    : data_(new std::uint8_t[capacity])
    , capacity_(capacity)
    , credit_(std::move(budgets), capacity) {}

} // namespace fa::messages
