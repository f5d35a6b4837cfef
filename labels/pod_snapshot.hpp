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
#include <cstring>
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

/// A well-mixed 64-bit hash of an address: two 8-octet loads and two multiply-xorshift
/// rounds, no loop. Every output bit depends on every octet, so the top bits pick the
/// shard and the low bits the slot.
inline std::uint64_t ip_hash(const ip_key& k) noexcept {
  auto mix = [](std::uint64_t x) { // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  std::uint64_t a, b;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  return mix(a ^ mix(b));
}

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

/// The Pods that held one address, oldest first.
using pod_candidates = std::vector<pod_entry_ptr>;

/// One shard: an open-addressing hash table (linear probing, power-of-two capacity, at
/// most 3/4 full) from address to candidates. It is on the per-record path, twice per
/// record, so a lookup touches as little memory as possible: one hash, then 32-octet
/// slots (two per cache line) that hold the key, the first candidate and the count. The
/// single-candidate case (nearly every address) needs nothing else; the owning
/// candidate lists sit in a parallel array that only updates and the multi-candidate
/// rule read.
class ip_table {
 public:
  struct slot {
    ip_key key{};
    const pod_entry* first = nullptr;
    std::uint32_t count = 0;
    bool used = false;
  };

  /// The slot of `ip`, or nullptr.
  const slot* find_slot(const ip_key& ip) const noexcept { return find_slot(ip, ip_hash(ip)); }
  /// The same with `ip_hash(ip)` already computed.
  const slot* find_slot(const ip_key& ip, std::uint64_t hash) const noexcept {
    return probe(slot_data(), slot_mask(), ip, hash);
  }
  /// Linear probing over `slots` (capacity mask + 1 slots; nullptr when empty).
  static const slot* probe(const slot* slots, std::size_t mask, const ip_key& ip,
                           std::uint64_t hash) noexcept {
    if (!slots)
      return nullptr;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      if (!slots[i].used)
        return nullptr;
      if (slots[i].key == ip)
        return &slots[i];
    }
  }
  const slot* slot_data() const noexcept { return slots_.empty() ? nullptr : slots_.data(); }
  std::size_t slot_mask() const noexcept { return slots_.empty() ? 0 : slots_.size() - 1; }
  /// The candidates of `ip`, or nullptr.
  const pod_candidates* find(const ip_key& ip) const noexcept;
  /// The candidates of slot `s` (a slot of this table).
  const pod_candidates& candidates_of(const slot* s) const noexcept {
    return values_[static_cast<std::size_t>(s - slots_.data())];
  }
  /// Calls `f(candidates&)` for `ip` (inserted empty when absent); an `ip` left without
  /// candidates is removed.
  template <class F>
  void update(const ip_key& ip, F&& f) {
    auto i = locate(ip);
    f(values_[i]);
    sync(i);
  }
  /// Removes `ip` (backward-shift deletion: no tombstones). No-op when absent.
  void erase(const ip_key& ip);
  std::size_t size() const noexcept { return size_; }

 private:
  std::size_t locate(const ip_key& ip); ///< slot index, inserted when absent
  void sync(std::size_t i);             ///< refreshes slot i from its candidates
  void grow();
  std::vector<slot> slots_;
  std::vector<pod_candidates> values_; ///< parallel to slots_
  std::size_t size_ = 0;
};

class pod_snapshot {
 public:
  /// 256 shards: with 100,000 Pods one shard holds ~400 addresses, and the shard table
  /// (copied once per published snapshot) is 4 KiB of pointers.
  static constexpr std::size_t num_shards = 256;

  using candidates = pod_candidates;
  using shard = ip_table;
  using shard_table = std::array<std::shared_ptr<shard>, num_shards>;

  pod_snapshot() = default;
  /// A snapshot over shards that nobody mutates any more (the Pod index's published ones).
  pod_snapshot(shard_table shards, std::size_t num_ips);

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
  static std::size_t shard_of_hash(std::uint64_t hash) noexcept {
    return static_cast<std::size_t>(hash >> 56) % num_shards;
  }

  /// The shard at `i` (nullptr when empty); tests check which shards two snapshots share.
  const shard* shard_at(std::size_t i) const { return shards_[i].get(); }

 private:
  /// Where each shard's slots are, so that a lookup goes from this table straight to the
  /// slot: one dependent memory access fewer per lookup than through the shard object.
  struct shard_view {
    const ip_table::slot* slots = nullptr;
    std::size_t mask = 0;
  };
  void refresh_view(std::size_t i);
  shard_table shards_;
  std::array<shard_view, num_shards> views_{};
  std::size_t num_ips_ = 0;
};

using pod_snapshot_ptr = std::shared_ptr<const pod_snapshot>;

} // namespace fa::labels
