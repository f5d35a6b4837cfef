#include "actors/rendezvous.hpp"

#include "flows/hash.hpp"

namespace fa::actors {

namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = fnv_offset;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= fnv_prime;
  }
  return h;
}

} // namespace

std::uint64_t destination_seed(std::string_view name) {
  return flows::mix64(fnv1a(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

std::uint64_t exporter_key(const std::array<std::uint8_t, 16>& address) {
  return flows::mix64(fnv1a(address.data(), address.size()));
}

namespace {

/// The highest-weight seed among those `skip` lets through; `seeds.size()` if none.
template <class Skip>
std::size_t highest_weight(const std::vector<std::uint64_t>& seeds, std::uint64_t key, Skip skip) {
  std::size_t best = seeds.size();
  std::uint64_t best_weight = 0;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (skip(i))
      continue;
    // The weight of (destination, key): a strong mix of both hashes. The index breaks
    // (practically impossible) ties, so the choice is always deterministic.
    auto w = flows::mix64(seeds[i] ^ key);
    if (best == seeds.size() || w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

} // namespace

std::size_t rendezvous_pick(const std::vector<std::uint64_t>& seeds, std::uint64_t key) {
  return highest_weight(seeds, key, [](std::size_t) { return false; });
}

std::size_t rendezvous_pick_up(const std::vector<std::uint64_t>& seeds, std::uint64_t key,
                               const std::vector<bool>& down) {
  auto i = highest_weight(seeds, key, [&](std::size_t j) { return j < down.size() && down[j]; });
  return i < seeds.size() ? i : rendezvous_pick(seeds, key);
}

} // namespace fa::actors
