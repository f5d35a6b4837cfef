#include "labels/pod_snapshot.hpp"

#include <cstring>

namespace fa::labels {

ip_key ipv4_key(const std::uint8_t* four_octets) {
  ip_key k{};
  k[10] = 0xff;
  k[11] = 0xff;
  std::memcpy(k.data() + 12, four_octets, 4);
  return k;
}

ip_key ipv6_key(const std::uint8_t* sixteen_octets) {
  ip_key k;
  std::memcpy(k.data(), sixteen_octets, 16);
  return k;
}

std::size_t ip_key_hash::operator()(const ip_key& k) const noexcept {
  // FNV-1a over the 16 octets: cheap and good enough for addresses.
  std::uint64_t h = 1469598103934665603ull;
  for (auto b : k)
    h = (h ^ b) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

std::size_t pod_snapshot::shard_of(const ip_key& ip) noexcept {
  // FNV-1a leaves the last octet (the one that varies most inside a Pod CIDR) mostly in
  // the low bits, which the hash map uses for its buckets; a murmur-style finaliser
  // spreads it over the bits the shard index takes, so shards stay even.
  std::uint64_t h = ip_key_hash{}(ip);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<std::size_t>(h >> 56) % num_shards;
}

const pod_snapshot::candidates* pod_snapshot::find(const ip_key& ip) const {
  const auto& s = shards_[shard_of(ip)];
  if (!s)
    return nullptr;
  auto i = s->find(ip);
  return i == s->end() || i->second.empty() ? nullptr : &i->second;
}

const pod_entry* pod_snapshot::lookup(const ip_key& ip, std::int64_t t) const {
  const auto* c = find(ip);
  if (!c)
    return nullptr;
  if (c->size() == 1)
    return c->front().get();
  for (const auto& p : *c)
    if (p->creation < t && (!p->deletion || t < *p->deletion))
      return p.get();
  return nullptr;
}

void pod_snapshot::add(const ip_key& ip, pod_entry_ptr pod) {
  auto& s = shards_[shard_of(ip)];
  if (!s)
    s = std::make_shared<shard>();
  else if (s.use_count() > 1)
    s = std::make_shared<shard>(*s);
  auto& c = (*s)[ip];
  if (c.empty())
    ++num_ips_;
  c.push_back(std::move(pod));
}

} // namespace fa::labels
