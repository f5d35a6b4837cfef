#include "labels/pod_snapshot.hpp"

#include <cstring>

namespace fa::labels {

void seal(pod_entry& e) {
  const std::string_view parts[4] = {e.labels_json, e.name, e.pod_namespace, e.node_name};
  std::uint32_t n[4];
  std::size_t total = sizeof n;
  e.wire.clear();
  for (std::size_t k = 0; k < 4; ++k) {
    // No IPFIX value is longer than 65535 octets (RFC 7011 7): such an entry stays
    // unsealed, and a record that would carry it is dropped as too large.
    if (parts[k].size() > 0xffff)
      return;
    n[k] = static_cast<std::uint32_t>(parts[k].size());
    total += wire_prefix_size(n[k]) + parts[k].size();
  }
  e.wire.reserve(total);
  e.wire.append(reinterpret_cast<const char*>(n), sizeof n);
  for (std::size_t k = 0; k < 4; ++k) {
    // The prefix as ipfix::write_varlen_prefix writes it: one octet below 255, else 255
    // and a 2-octet length in network order.
    if (n[k] < 255) {
      e.wire.push_back(static_cast<char>(n[k]));
    } else {
      e.wire.push_back(static_cast<char>(255));
      e.wire.push_back(static_cast<char>(n[k] >> 8));
      e.wire.push_back(static_cast<char>(n[k] & 0xff));
    }
    e.wire.append(parts[k]);
  }
}

std::size_t ip_key_hash::operator()(const ip_key& k) const noexcept {
  // FNV-1a over the 16 octets: cheap and good enough for addresses.
  std::uint64_t h = 1469598103934665603ull;
  for (auto b : k)
    h = (h ^ b) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

const pod_candidates* ip_table::find(const ip_key& ip) const noexcept {
  const auto* s = find_slot(ip);
  return s ? &candidates_of(s) : nullptr;
}

std::size_t ip_table::locate(const ip_key& ip) {
  if ((size_ + 1) * 4 > slots_.size() * 3)
    grow();
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = ip_hash(ip) & mask;; i = (i + 1) & mask) {
    auto& s = slots_[i];
    if (!s.first) {
      s.key = ip;
      ++size_;
      return i;
    }
    if (same_key(s.key, ip))
      return i;
  }
}

void ip_table::sync(std::size_t i) {
  auto& v = values_[i];
  if (v.empty()) {
    erase_at(i);
    return;
  }
  const auto& first = *v.front();
  slots_[i].first = &first;
  slots_[i].wire = v.size() == 1 && !first.wire.empty() ? first.wire.data() : nullptr;
}

void ip_table::grow() {
  auto old_slots = std::move(slots_);
  auto old_values = std::move(values_);
  auto n = old_slots.empty() ? std::size_t{16} : old_slots.size() * 2;
  slots_ = decltype(slots_)(n);
  values_ = std::vector<pod_candidates>(n);
  size_ = 0;
  for (std::size_t i = 0; i < old_slots.size(); ++i)
    if (old_slots[i].first) {
      auto j = locate(old_slots[i].key);
      values_[j] = std::move(old_values[i]);
      slots_[j].first = old_slots[i].first;
      slots_[j].wire = old_slots[i].wire;
    }
}

void ip_table::erase(const ip_key& ip) {
  if (slots_.empty())
    return;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = ip_hash(ip) & mask;; i = (i + 1) & mask) {
    if (!slots_[i].first)
      return;
    if (same_key(slots_[i].key, ip)) {
      erase_at(i);
      return;
    }
  }
}

void ip_table::erase_at(std::size_t i) {
  const std::size_t mask = slots_.size() - 1;
  // Backward shift: move later entries of the probe run into the hole when their home
  // slot is not between the hole and themselves (Knuth 6.4, algorithm R).
  for (std::size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!slots_[j].first)
      break;
    std::size_t home = ip_hash(slots_[j].key) & mask;
    bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      slots_[i] = slots_[j];
      values_[i] = std::move(values_[j]);
      i = j;
    }
  }
  slots_[i] = slot{};
  values_[i] = pod_candidates{};
  --size_;
}

std::size_t pod_snapshot::shard_of(const ip_key& ip) noexcept {
  // The top bits; the table inside takes the low ones.
  return shard_of_hash(ip_hash(ip));
}

pod_snapshot::pod_snapshot(shard_table shards, std::size_t num_ips)
    : shards_(std::move(shards))
    , num_ips_(num_ips) {
  for (std::size_t i = 0; i < num_shards; ++i)
    refresh_view(i);
}

void pod_snapshot::refresh_view(std::size_t i) {
  views_[i] =
      shards_[i] ? shard_view{shards_[i]->slot_data(), shards_[i]->slot_mask()} : shard_view{};
}

const pod_snapshot::candidates* pod_snapshot::find(const ip_key& ip) const {
  const auto& s = shards_[shard_of(ip)];
  return s ? s->find(ip) : nullptr;
}

pod_snapshot::found pod_snapshot::pick(std::size_t i, const ip_table::slot* s,
                                       std::int64_t t) const noexcept {
  const auto& c = shards_[i]->candidates_of(s);
  const pod_entry* e = nullptr;
  if (c.size() == 1) {
    e = c.front().get();
  } else {
    for (const auto& p : c)
      if (p->creation < t && (!p->deletion || t < *p->deletion)) {
        e = p.get();
        break;
      }
  }
  if (!e)
    return {};
  return {e, e->wire.empty() ? nullptr : e->wire.data()};
}

void pod_snapshot::add(const ip_key& ip, pod_entry_ptr pod) {
  auto& s = shards_[shard_of(ip)];
  if (!s)
    s = std::make_shared<shard>();
  else if (s.use_count() > 1)
    s = std::make_shared<shard>(*s);
  s->update(ip, [&](pod_candidates& c) {
    if (c.empty())
      ++num_ips_;
    c.push_back(std::move(pod));
  });
  refresh_view(shard_of(ip));
}

} // namespace fa::labels
