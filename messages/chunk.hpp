#pragma once

// Received bytes shared, immutable, between actors. A chunk holds one or more whole
// IPFIX messages back to back and pins its size in the session's budget until the last
// holder drops it (DESIGN 3: credits are RAII).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

namespace fa::messages {

/// Bytes a session may have in flight. The reader acquires what it reads and pauses
/// when the budget is spent; whoever drops the last reference to a chunk releases it,
/// and the first release that brings the budget back above zero resumes the reader.
class session_budget {
public:
  explicit session_budget(std::int64_t limit) : available_(limit), limit_(limit) {}

  /// Takes `n` bytes; returns false when the budget is now spent (the reader pauses
  /// and must call `pause` to arm the resume callback).
  bool acquire(std::int64_t n) { return available_.fetch_sub(n) - n > 0; }

  /// Arms `resume`, which is called once when the budget becomes positive again. Returns
  /// false (and does not arm) when the budget is already positive: keep reading.
  bool pause(std::function<void()> resume);

  void release(std::int64_t n);

  std::int64_t available() const { return available_.load(); }
  std::int64_t limit() const { return limit_; }

private:
  std::atomic<std::int64_t> available_;
  std::int64_t limit_;
  std::atomic<bool> paused_{false};
  std::function<void()> resume_;
};

using session_budget_ptr = std::shared_ptr<session_budget>;

/// One read's worth of complete IPFIX messages.
class chunk {
public:
  chunk(std::size_t capacity, session_budget_ptr budget);
  ~chunk();
  chunk(const chunk&) = delete;
  chunk& operator=(const chunk&) = delete;

  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t capacity() const { return capacity_; }
  /// Octets holding whole messages.
  std::size_t size() const { return size_; }
  void set_size(std::size_t n) { size_ = n; }
  std::span<const std::uint8_t> bytes() const { return {data_.get(), size_}; }

private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  session_budget_ptr budget_;
};

using chunk_ptr = std::shared_ptr<const chunk>;

} // namespace fa::messages
