#pragma once

// Memory for exporters' templates (issue 16, defects 2 and 6): every template a session
// holds is charged, by an estimate of what it costs, to its exporter's share and to the
// process-wide total. A template that does not fit either is refused, so template state
// stays bounded however many sessions define how many templates (over UDP sources can be
// spoofed). Thread-safe: sessions of one exporter run on different threads.

#include <atomic>
#include <cstddef>
#include <memory>

namespace fa::ipfix {

struct template_def;

/// Bytes charged against a limit. Charging fails instead of going over.
class template_budget {
 public:
  explicit template_budget(std::size_t limit)
      : limit_(limit) {}

  /// Charges `n` bytes if they fit under the limit; false (nothing charged) otherwise.
  bool try_charge(std::size_t n);
  void release(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return limit_; }

 private:
  std::atomic<std::size_t> used_{0};
  std::size_t limit_;
};

using template_budget_ptr = std::shared_ptr<template_budget>;

/// What one template is charged: the store's entry and definition, the session's plan
/// (a copy of the fields and the record layout) and the output template it may be
/// forwarded with (the fields again, plus those appended). An estimate that errs high:
/// 640 octets, plus 48 per field (four copies of an 8-octet specifier and the layout).
std::size_t template_footprint(const template_def& def);

/// Why a template was refused.
enum class budget_refusal : std::uint8_t {
  none,
  exporter, ///< the exporter's (address's) share is spent
  process,  ///< the process-wide budget is spent
};

/// The budgets one session's templates are charged to; either may be null (unbounded).
struct template_quota {
  template_budget_ptr exporter{};
  template_budget_ptr process{};

  /// Charges `n` to both, or to neither and says which one refused.
  budget_refusal try_charge(std::size_t n) const;
  void release(std::size_t n) const;
};

} // namespace fa::ipfix
