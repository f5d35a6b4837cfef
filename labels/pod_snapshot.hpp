#pragma once

// An immutable view of the Pod index that enrichers read without locks or messages
// (DESIGN 2: snapshots, not requests). The lookup rules are Antrea's
// (antrea-proxy-semantics.md 3).
//
// The addresses are spread over `num_shards` hash maps, each behind its own shared
// pointer. A new snapshot shares every shard it did not change with the previous one, so
// publishing a change costs what changed (one shard per changed address) plus the shard
// table, not the size of the cluster (issue 4: 100,000 Pods is a normal cluster).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fa::labels {

/// An IP address as 16 octets; IPv4 in IPv4-mapped form (::ffff:a.b.c.d).
using ip_key = std::array<std::uint8_t, 16>;

ip_key ipv4_key(const std::uint8_t* four_octets);
ip_key ipv6_key(const std::uint8_t* sixteen_octets);

struct ip_key_hash {
  std::size_t operator()(const ip_key& k) const noexcept;
};

struct pod_entry {
  std::string name;
  std::string pod_namespace;
  std::string node_name;
  /// Go-compatible JSON of the labels, encoded once per Pod event
  /// (antrea-proxy-semantics.md 4); "{}" for a Pod without labels.
  std::string labels_json;
  std::int64_t creation = 0;            ///< seconds since the epoch
  std::optional<std::int64_t> deletion; ///< when the delete or terminal phase was observed
};

using pod_entry_ptr = std::shared_ptr<const pod_entry>;

class pod_snapshot {
 public:
  /// 256 shards: with 100,000 Pods one shard holds ~400 addresses, and the shard table
  /// (copied once per published snapshot) is 4 KiB of pointers.
  static constexpr std::size_t num_shards = 256;

  /// The Pods that held one address, oldest first.
  using candidates = std::vector<pod_entry_ptr>;
  using shard = std::unordered_map<ip_key, candidates, ip_key_hash>;
  using shard_table = std::array<std::shared_ptr<shard>, num_shards>;

  pod_snapshot() = default;
  /// A snapshot over shards that nobody mutates any more (the Pod index's published ones).
  pod_snapshot(shard_table shards, std::size_t num_ips)
      : shards_(std::move(shards))
      , num_ips_(num_ips) {}

  /// The Pod that had `ip` at time `t` (seconds), or nullptr:
  /// no candidate -> none; one candidate -> it, whatever t is (tolerates clock skew);
  /// several -> the one with creation < t and (not deleted or t < deletion).
  const pod_entry* lookup(const ip_key& ip, std::int64_t t) const;

  /// Every Pod that held `ip` (for inspection), or nullptr.
  const candidates* find(const ip_key& ip) const;

  std::size_t num_ips() const { return num_ips_; }

  /// Adds a candidate for `ip` to a snapshot under construction (tests build small ones
  /// this way). Copies the shard first when another snapshot shares it.
  void add(const ip_key& ip, pod_entry_ptr pod);

  /// Which shard holds `ip`.
  static std::size_t shard_of(const ip_key& ip) noexcept;

  /// The shard at `i` (nullptr when empty); tests check which shards two snapshots share.
  const shard* shard_at(std::size_t i) const { return shards_[i].get(); }

 private:
  shard_table shards_;
  std::size_t num_ips_ = 0;
};

using pod_snapshot_ptr = std::shared_ptr<const pod_snapshot>;

} // namespace fa::labels
