#pragma once

// The key of an aggregated flow (antrea-aggregate-semantics.md a): source and
// destination address, protocol, source and destination port.

#include "base/hash.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fa::flows {

/// An address in IPv6 form; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). Antrea keys by
/// Go's text form, which prints an IPv4-mapped IPv6 address as dotted IPv4 (reference
/// a), so an IPv4 record and an IPv6 record carrying the mapped form have one key here
/// too.
using address = std::array<std::uint8_t, 16>;

/// The address of 4 network-order octets, IPv4-mapped.
inline address ipv4_address(const std::uint8_t* p) {
  address a{};
  a[10] = 0xff;
  a[11] = 0xff;
  std::memcpy(a.data() + 12, p, 4);
  return a;
}

/// The address of 16 network-order octets.
inline address ipv6_address(const std::uint8_t* p) {
  address a;
  std::memcpy(a.data(), p, 16);
  return a;
}

/// True for an IPv4-mapped address (::ffff:0:0/96).
inline bool is_v4(const address& a) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.data(), prefix, 12) == 0;
}

/// The flow key. For the ingress half of an inter-Node FromExternal flow with proxy SNAT
/// the source is the SNAT address and port, so it meets the destination Node's record
/// (reference a, HEAD special case); `flow_table` builds it.
struct flow_key {
  address source{};
  address destination{};
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint8_t protocol = 0;

  friend bool operator==(const flow_key&, const flow_key&) = default;
};

/// 64-bit hash of a key: the five members mixed word by word.
inline std::uint64_t hash(const flow_key& k) {
  std::uint64_t w[4];
  std::memcpy(w, k.source.data(), 16);
  std::memcpy(w + 2, k.destination.data(), 16);
  using base::mix64;
  std::uint64_t h = mix64(w[0]);
  h = mix64(h, w[1]);
  h = mix64(h, w[2]);
  h = mix64(h, w[3]);
  return mix64(h, (std::uint64_t{k.source_port} << 24) | (std::uint64_t{k.destination_port} << 8) |
                      k.protocol);
}

/// The shard, of `shards` (> 0), that owns the key with hash `h`. It takes the hash's
/// high 32 bits: a flow table indexes by the low ones, so the keys of one shard still
/// spread over its whole index.
inline std::size_t shard_of(std::uint64_t h, std::size_t shards) {
  return static_cast<std::size_t>(((h >> 32) * shards) >> 32);
}

} // namespace fa::flows
