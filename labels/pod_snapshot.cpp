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

const pod_entry* pod_snapshot::lookup(const ip_key& ip, std::int64_t t) const {
  auto i = by_ip_.find(ip);
  if (i == by_ip_.end() || i->second.empty())
    return nullptr;
  const auto& candidates = i->second;
  if (candidates.size() == 1)
    return candidates.front().get();
  for (const auto& p : candidates)
    if (p->creation < t && (!p->deletion || t < *p->deletion))
      return p.get();
  return nullptr;
}

} // namespace fa::labels
