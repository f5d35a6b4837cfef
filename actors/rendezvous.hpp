#pragma once

// Rendezvous (highest-random-weight) hashing, the one way destinations are picked by a
// key: fanout "hash" (by exporter), fanout "flow" (by flow key) and an aggregator's
// exports with fanout "hash" (by flow key). Seeds come from destination names, so a
// choice survives restarts and reordering of the config.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace fa::actors {

/// The rendezvous seed of a destination: a 64-bit hash of its name (FNV-1a, mixed).
std::uint64_t destination_seed(std::string_view name);

/// The key fanout hash spreads by: the exporter's address only (IPv4 in IPv4-mapped
/// form), not its port, so an exporter's TCP reconnects and its UDP sessions land on
/// the same destination.
std::uint64_t exporter_key(const std::array<std::uint8_t, 16>& address);

/// The weight of the destination of seed `seed` for `key`: one multiply and one
/// xor-shift of both. Enough because both are already hashes whose every bit depends on
/// every bit of what they hash (destination_seed, exporter_key, flow_hash): the weights of
/// one key for different seeds are then as good as independent, so each destination wins
/// an equal share and a new one takes its share from each of the others alike (the
/// rendezvous tests check both). A bijection of `seed ^ key`: two seeds never tie.
inline std::uint64_t rendezvous_weight(std::uint64_t seed, std::uint64_t key) {
  const std::uint64_t x = (seed ^ key) * 0x9e3779b97f4a7c15ULL;
  return x ^ (x >> 32);
}

/// Rendezvous (highest-random-weight) hashing: the index of the seed whose weight for
/// `key` is highest. Adding a destination moves only the keys it wins, about 1/n of
/// them; removing one moves only its own. `seeds` must not be empty. Inline and without a
/// data-dependent branch (the compare selects): it runs per record with fanout flow.
inline std::size_t rendezvous_pick(const std::vector<std::uint64_t>& seeds, std::uint64_t key) {
  std::size_t best = 0;
  std::uint64_t best_weight = rendezvous_weight(seeds[0], key);
  for (std::size_t i = 1; i < seeds.size(); ++i) {
    const auto w = rendezvous_weight(seeds[i], key);
    // Strictly higher: the lower index keeps a tie (impossible between distinct seeds).
    const bool higher = w > best_weight;
    best = higher ? i : best;
    best_weight = higher ? w : best_weight;
  }
  return best;
}

/// `rendezvous_pick` over the seeds whose `down` entry is false: the destination next in
/// `key`'s own rendezvous order when the ones before it are down (fanout.failover), so
/// every process that sees the same destinations down makes the same choice, and a
/// destination that goes down moves only its own keys. With every one down, the winner.
/// `down` has one entry per seed.
std::size_t rendezvous_pick_up(const std::vector<std::uint64_t>& seeds, std::uint64_t key,
                               const std::vector<bool>& down);

} // namespace fa::actors
