#pragma once

// Received bytes shared, immutable, between actors, and the credits that bound them
// (DESIGN 3). Every buffer that holds a session's data pins its size in two budgets: the
// session's own and the process-wide one. A reader pauses when either is spent, which
// pushes back on the exporter over TCP, and resumes when the last holder of a buffer
// drops it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace fa::messages {

/// Octets that may be in flight. Acquiring never fails (the reader has already read the
/// bytes); it only makes `available` drop to or below zero, and the reader then waits.
/// The mutex is taken only to park or wake waiters, never per buffer.
class byte_budget {
 public:
  explicit byte_budget(std::int64_t limit)
      : available_(limit)
      , limit_(limit) {}

  void acquire(std::int64_t n) { available_.fetch_sub(n); }
  void release(std::int64_t n);

  bool spent() const { return available_.load() <= 0; }

  /// Parks `resume` until the budget is positive again; returns false (and does not
  /// park) when it already is, in which case the caller goes on at once.
  bool wait(std::function<void()> resume);

  std::int64_t available() const { return available_.load(); }
  std::int64_t limit() const { return limit_; }

 private:
  std::atomic<std::int64_t> available_;
  std::int64_t limit_;
  std::mutex mtx_;
  std::vector<std::function<void()>> waiters_;
};

using byte_budget_ptr = std::shared_ptr<byte_budget>;

/// The budgets a session's buffers are charged to.
struct session_budgets {
  byte_budget_ptr session;
  byte_budget_ptr global; ///< may be null

  /// DESIGN 3, checked by a reader before every read: when either budget is spent,
  /// parks `make_resume()` until that budget has room again and returns true (do not
  /// read); false = both have room, read now. Woken, the reader calls this again. The
  /// callback is only made when it is needed, so an unpaused read costs two loads.
  /// Either budget is spent (two loads; nothing is parked).
  bool spent() const { return (session && session->spent()) || (global && global->spent()); }

  template <class MakeResume>
  bool wait_if_spent(MakeResume&& make_resume) const {
    for (auto* b : {session.get(), global.get()})
      if (b && b->spent() && b->wait(make_resume()))
        return true;
    return false;
  }
};

/// RAII: `n` octets charged to both budgets until destroyed.
class credit {
 public:
  credit() = default;
  credit(session_budgets b, std::size_t n);
  ~credit();
  credit(const credit&) = delete;
  credit& operator=(const credit&) = delete;
  /// Moved, the charge goes with it: the source holds nothing.
  credit(credit&& other) noexcept;
  credit& operator=(credit&& other) noexcept;

  const session_budgets& budgets() const { return budgets_; }
  std::size_t size() const { return n_; }

 private:
  session_budgets budgets_;
  std::size_t n_ = 0;
};

/// One read's worth of complete IPFIX messages.
class chunk {
 public:
  chunk(std::size_t capacity, session_budgets budgets);
  chunk(const chunk&) = delete;
  chunk& operator=(const chunk&) = delete;

  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t capacity() const { return capacity_; }
  /// Octets holding whole messages.
  std::size_t size() const { return size_; }
  void set_size(std::size_t n) { size_ = n; }
  std::span<const std::uint8_t> bytes() const { return {data_.get(), size_}; }
  const session_budgets& budgets() const { return credit_.budgets(); }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  credit credit_;
};

using chunk_ptr = std::shared_ptr<const chunk>;

} // namespace fa::messages
