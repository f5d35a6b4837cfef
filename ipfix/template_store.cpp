#include "ipfix/template_store.hpp"

#include "ipfix/message.hpp"

#include <algorithm>
#include <utility>

namespace fa::ipfix {

std::string_view to_string(template_event e) {
  switch (e) {
  case template_event::added:
    return "added";
  case template_event::refreshed:
    return "refreshed";
  case template_event::replaced:
    return "replaced";
  case template_event::redefined:
    return "redefined";
  case template_event::withdrawn:
    return "withdrawn";
  case template_event::withdrawn_all:
    return "withdrawn_all";
  case template_event::unknown_withdrawal:
    return "unknown_withdrawal";
  case template_event::ignored_withdrawal:
    return "ignored_withdrawal";
  case template_event::limit_reached:
    return "limit_reached";
  case template_event::expired:
    return "expired";
  case template_event::exporter_budget:
    return "exporter_budget";
  case template_event::process_budget:
    return "process_budget";
  }
  return "unknown";
}

namespace {

/// Set 2 holds templates, set 3 options templates (RFC 7011 3.3.2).
bool is_kind_of_set(const template_def& def, std::uint16_t set_id) {
  return def.is_options() == (set_id == options_template_set_id);
}

} // namespace

template_store::template_store(template_store&& other) noexcept
    : cfg_(std::move(other.cfg_))
    , entries_(std::move(other.entries_))
    , charged_(std::exchange(other.charged_, 0)) {
  other.entries_.clear();
}

template_store& template_store::operator=(template_store&& other) noexcept {
  if (this != &other) {
    clear();
    cfg_ = std::move(other.cfg_);
    entries_ = std::move(other.entries_);
    charged_ = std::exchange(other.charged_, 0);
    other.entries_.clear();
  }
  return *this;
}

void template_store::clear() {
  cfg_.quota.release(charged_);
  charged_ = 0;
  entries_.clear();
}

template_store::map_type::iterator template_store::erase(map_type::iterator it) {
  cfg_.quota.release(it->second.cost);
  charged_ -= it->second.cost;
  return entries_.erase(it);
}

template_event template_store::charge(const template_def& def, std::size_t& cost) {
  cost = template_footprint(def);
  switch (cfg_.quota.try_charge(cost)) {
  case budget_refusal::exporter:
    return template_event::exporter_budget;
  case budget_refusal::process:
    return template_event::process_budget;
  case budget_refusal::none:
    break;
  }
  charged_ += cost;
  return template_event::added;
}

template_event template_store::apply(std::uint32_t odid, std::uint16_t set_id,
                                     const template_record& rec, clock_type::time_point now,
                                     std::vector<std::uint16_t>* removed) {
  const bool udp = cfg_.transport == transport_kind::udp;
  if (rec.withdrawal) {
    // RFC 7011 8.4: over UDP, withdrawals are ignored.
    if (udp)
      return template_event::ignored_withdrawal;
    // RFC 7011 8.1: id 2 in set 2 (3 in set 3) withdraws all templates of that kind.
    if (rec.def.id == set_id) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (static_cast<std::uint32_t>(it->first >> 16) == odid &&
            is_kind_of_set(*it->second.def, set_id)) {
          if (removed)
            removed->push_back(it->second.def->id);
          it = erase(it);
        } else {
          ++it;
        }
      }
      return template_event::withdrawn_all;
    }
    // A withdrawal names a template of its set's kind; any other id is not live for it.
    auto it = entries_.find(key(odid, rec.def.id));
    if (it == entries_.end() || !is_kind_of_set(*it->second.def, set_id))
      return template_event::unknown_withdrawal;
    if (removed)
      removed->push_back(rec.def.id);
    erase(it);
    return template_event::withdrawn;
  }

  const auto k = key(odid, rec.def.id);
  auto it = entries_.find(k);
  // Over UDP an expired template is gone even before `expire` removes it.
  if (it != entries_.end() && udp && now - it->second.last_seen >= cfg_.udp_lifetime) {
    erase(it);
    it = entries_.end();
  }
  if (it != entries_.end()) {
    entry& e = it->second;
    e.last_seen = now;
    if (e.def->same_layout(rec.def))
      return template_event::refreshed;
    // The old definition stays valid for whoever holds its pointer. Its charge goes;
    // a new one that does not fit the budget leaves no definition at all (the caller
    // drops what it derived, as for a withdrawal).
    erase(it);
    std::size_t cost = 0;
    if (auto ev = charge(rec.def, cost); ev != template_event::added) {
      if (removed)
        removed->push_back(rec.def.id);
      return ev;
    }
    entries_.emplace(k, entry{std::make_shared<const template_def>(rec.def), now, cost});
    // RFC 7011 8.4: over UDP a new definition replaces the old one. RFC 7011 8: over TCP
    // it is an exporter error (no withdrawal first); we log it and use the new one.
    return udp ? template_event::replaced : template_event::redefined;
  }
  if (entries_.size() >= cfg_.max_templates && udp)
    expire(now);
  if (entries_.size() >= cfg_.max_templates)
    return template_event::limit_reached;
  std::size_t cost = 0;
  if (auto ev = charge(rec.def, cost); ev != template_event::added)
    return ev;
  entries_.emplace(k, entry{std::make_shared<const template_def>(rec.def), now, cost});
  return template_event::added;
}

const template_ptr* template_store::find(std::uint32_t odid, std::uint16_t id,
                                         clock_type::time_point now) const {
  auto it = entries_.find(key(odid, id));
  if (it == entries_.end())
    return nullptr;
  if (cfg_.transport == transport_kind::udp && now - it->second.last_seen >= cfg_.udp_lifetime)
    return nullptr;
  return &it->second.def;
}

std::vector<std::pair<std::uint32_t, std::uint16_t>>
template_store::expire(clock_type::time_point now) {
  std::vector<std::pair<std::uint32_t, std::uint16_t>> out;
  // RFC 7011 8: over TCP templates live as long as the session.
  if (cfg_.transport != transport_kind::udp)
    return out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_seen >= cfg_.udp_lifetime) {
      out.emplace_back(static_cast<std::uint32_t>(it->first >> 16), it->second.def->id);
      it = erase(it);
    } else {
      ++it;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace fa::ipfix
