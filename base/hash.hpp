#pragma once

// The hashes the pipeline spreads and indexes with: sessions over enrichers, exporters
// and flows over destinations, addresses over label shards, UDP peers and session slots
// over their tables, flows over the flow table. Header-only, no dependencies, so every
// folder may use it (architecture-2 weakness 10).

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fa::base {

/// The increment of splitmix64 (2^64 / golden ratio): added before `mix64`, it turns
/// consecutive inputs (session ids, counters) into unrelated outputs.
inline constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;

/// splitmix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Combines a running hash with one more 64-bit word (the step is the golden-ratio
/// increment of splitmix64, so equal words at different positions hash differently).
constexpr std::uint64_t mix64(std::uint64_t h, std::uint64_t word) noexcept {
  return mix64(h + golden_gamma + word);
}

/// A 16-octet address (IPv6, or IPv4-mapped) as two words, mixed with `extra` (a port,
/// shifted clear of the address's low bits): for hash tables keyed by address. Every
/// output bit depends on every octet.
inline std::uint64_t address_hash(const std::uint8_t* address, std::uint64_t extra = 0) noexcept {
  std::uint64_t a, b;
  std::memcpy(&a, address, 8);
  std::memcpy(&b, address + 8, 8);
  return mix64(a ^ (b * golden_gamma) ^ extra);
}

/// 64-bit hash of `n` octets: eight at a time through `mix64`, the length mixed in.
inline std::uint64_t hash_bytes(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t h = mix64(n);
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix64(h, w);
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = mix64(h, w);
  }
  return h;
}

/// 64-bit FNV-1a of `n` octets: a hash of names and addresses that does not depend on
/// the platform, so a choice made with it survives restarts.
constexpr std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

} // namespace fa::base
