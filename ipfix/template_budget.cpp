#include "ipfix/template_budget.hpp"

#include "ipfix/template.hpp"

namespace fa::ipfix {

bool template_budget::try_charge(std::size_t n) {
  auto used = used_.load(std::memory_order_relaxed);
  do {
    if (n > limit_ || used > limit_ - n)
      return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
  return true;
}

std::size_t template_footprint(const template_def& def) {
  constexpr std::size_t per_template = 640;
  constexpr std::size_t per_field = 48;
  return per_template + per_field * def.fields.size();
}

budget_refusal template_quota::try_charge(std::size_t n) const {
  if (exporter && !exporter->try_charge(n))
    return budget_refusal::exporter;
  if (process && !process->try_charge(n)) {
    if (exporter)
      exporter->release(n);
    return budget_refusal::process;
  }
  return budget_refusal::none;
}

void template_quota::release(std::size_t n) const {
  if (exporter)
    exporter->release(n);
  if (process)
    process->release(n);
}

} // namespace fa::ipfix
