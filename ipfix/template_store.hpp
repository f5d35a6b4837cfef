#pragma once

// The templates of one transport session, per observation domain, with the rules of
// the session's transport (RFC 7011 8, 8.4).

#include "ipfix/template.hpp"
#include "ipfix/template_budget.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>

namespace fa::ipfix {

enum class transport_kind : std::uint8_t { tcp, udp };

/// What applying one template record did. The session logs and counts each outcome.
enum class template_event : std::uint8_t {
  added,              ///< new id
  refreshed,          ///< same id, same definition (a refresh; harmless on both transports)
  replaced,           ///< UDP: a new definition for a live id replaces it (RFC 7011 8.4)
  redefined,          ///< TCP: new definition for a live id without withdrawal; an
                      ///< exporter error (RFC 7011 8), logged; the new one is used
  withdrawn,          ///< TCP: one template withdrawn
  withdrawn_all,      ///< TCP: id 2 / 3 withdrew all templates of that kind
  unknown_withdrawal, ///< TCP: withdrawal of an id that is not live; ignored, logged
  ignored_withdrawal, ///< UDP: withdrawals are ignored (RFC 7011 8.4)
  limit_reached,      ///< the per-session template limit refused a new id
  expired,            ///< UDP: not refreshed within the lifetime (RFC 7011 8.4); from `expire`
  /// The template did not fit its exporter's share of the template budget; refused (a
  /// redefinition also loses the definition it replaced).
  exporter_budget,
  process_budget, ///< ... did not fit the process-wide template budget; refused likewise
};

/// True for the outcomes that refuse a template (limit or budget).
constexpr bool is_refusal(template_event e) {
  return e == template_event::limit_reached || e == template_event::exporter_budget ||
         e == template_event::process_budget;
}

std::string_view to_string(template_event e);

using template_ptr = std::shared_ptr<const template_def>;
using clock_type = std::chrono::steady_clock;

struct template_store_config {
  transport_kind transport = transport_kind::tcp;
  std::size_t max_templates = 4096; ///< over all ODIDs of the session
  /// UDP only: a template not refreshed for this long expires (RFC 7011 8.4 asks for
  /// at least 3x the exporter's refresh interval).
  clock_type::duration udp_lifetime = std::chrono::seconds{1800};
  /// Every live template is charged `template_footprint` here (null budgets: unbounded).
  template_quota quota{};
};

/// Templates keyed by (ODID, template id). Definitions are shared immutable pointers
/// so plans built from them stay valid after a withdrawal. What the live templates are
/// charged to the quota is released when they go (withdrawal, expiry, `clear`, the end
/// of the store). Move-only.
class template_store {
 public:
  explicit template_store(template_store_config cfg = {})
      : cfg_(std::move(cfg)) {}
  template_store(template_store&& other) noexcept;
  template_store& operator=(template_store&& other) noexcept;
  template_store(const template_store&) = delete;
  template_store& operator=(const template_store&) = delete;
  ~template_store() { clear(); }

  /// Applies one record from a template set (`set_id` 2 or 3) of the message with
  /// `odid`. `removed` receives the ids a withdrawal removed, or a redefinition the
  /// budget refused (so the caller can drop what it derived from them).
  template_event apply(std::uint32_t odid, std::uint16_t set_id, const template_record& rec,
                       clock_type::time_point now, std::vector<std::uint16_t>* removed = nullptr);

  /// The live template, or nullptr. Over UDP an expired template is not returned.
  const template_ptr* find(std::uint32_t odid, std::uint16_t id, clock_type::time_point now) const;

  /// UDP: removes templates older than the lifetime; returns (odid, id) of each removed.
  std::vector<std::pair<std::uint32_t, std::uint16_t>> expire(clock_type::time_point now);

  /// End of a TCP session withdraws everything (RFC 7011 8).
  void clear();

  std::size_t size() const { return entries_.size(); }
  /// Octets the live templates are charged to the quota.
  std::size_t charged() const { return charged_; }
  const template_store_config& config() const { return cfg_; }

  /// Calls `f(odid, const template_ptr&)` for each live template (inspection).
  template <class F>
  void for_each(F&& f) const {
    for (auto& [key, e] : entries_)
      f(static_cast<std::uint32_t>(key >> 16), e.def);
  }

 private:
  struct entry {
    template_ptr def;
    clock_type::time_point last_seen;
    std::size_t cost = 0; ///< charged to the quota
  };
  using map_type = std::unordered_map<std::uint64_t, entry>;
  /// Erases `it` and releases its charge.
  map_type::iterator erase(map_type::iterator it);
  /// Charges `def`'s footprint; the refusal event, or `added` when it fit.
  template_event charge(const template_def& def, std::size_t& cost);
  static std::uint64_t key(std::uint32_t odid, std::uint16_t id) {
    return (std::uint64_t{odid} << 16) | id;
  }
  template_store_config cfg_;
  map_type entries_;
  std::size_t charged_ = 0;
};

} // namespace fa::ipfix
