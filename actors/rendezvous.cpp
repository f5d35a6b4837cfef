#include "actors/rendezvous.hpp"

#include "base/hash.hpp"

namespace fa::actors {

std::uint64_t destination_seed(std::string_view name) {
  return base::mix64(base::fnv1a(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

std::uint64_t exporter_key(const std::array<std::uint8_t, 16>& address) {
  return base::mix64(base::fnv1a(address.data(), address.size()));
}

std::size_t rendezvous_pick_up(const std::vector<std::uint64_t>& seeds, std::uint64_t key,
                               const std::vector<bool>& down) {
  std::size_t best = seeds.size();
  std::uint64_t best_weight = 0;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (i < down.size() && down[i])
      continue;
    auto w = rendezvous_weight(seeds[i], key);
    if (best == seeds.size() || w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best < seeds.size() ? best : rendezvous_pick(seeds, key);
}

} // namespace fa::actors
