#pragma once

// The hash the flow table indexes by. TODO: fold into base/hash.hpp once that lands
// (architecture-2 weakness 10); kept local so flows/ depends on nothing new.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fa::flows {

/// splitmix64's finaliser: every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Combines a running hash with one more 64-bit word (the step is the golden-ratio
/// increment of splitmix64, so equal words at different positions hash differently).
constexpr std::uint64_t mix64(std::uint64_t h, std::uint64_t word) {
  return mix64(h + 0x9e3779b97f4a7c15ULL + word);
}

/// 64-bit hash of `n` octets: eight at a time through `mix64`, the length mixed in.
inline std::uint64_t hash_bytes(const std::uint8_t* p, std::size_t n) {
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

} // namespace fa::flows
