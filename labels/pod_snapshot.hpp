#pragma once

// An immutable view of the Pod index that enrichers read without locks or messages
// (DESIGN 2: snapshots, not requests). The lookup rules are Antrea's
// (antrea-proxy-semantics.md 3).
//
// The addresses are spread over `num_shards` hash maps, each behind its own shared
// pointer. A new snapshot shares every shard it did not change with the previous one, so
// publishing a change costs what changed (one shard per changed address) plus the shard
// table, not the size of the cluster (issue 4: 100,000 Pods is a normal cluster).

#include "base/hash.hpp"
#include "labels/lookup_arena.hpp"
#include "labels/pod_candidates.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fa::labels {

/// An IP address as 16 octets; IPv4 in IPv4-mapped form (::ffff:a.b.c.d).
using ip_key = std::array<std::uint8_t, 16>;

/// Inline: the enrichers build two keys per record.
inline ip_key ipv4_key(const std::uint8_t* four_octets) noexcept {
  ip_key k{};
  k[10] = 0xff;
  k[11] = 0xff;
  std::memcpy(k.data() + 12, four_octets, 4);
  return k;
}
inline ip_key ipv6_key(const std::uint8_t* sixteen_octets) noexcept {
  ip_key k;
  std::memcpy(k.data(), sixteen_octets, 16);
  return k;
}

struct ip_key_hash {
  std::size_t operator()(const ip_key& k) const noexcept;
};

/// A well-mixed 64-bit hash of an address: two 8-octet loads and two multiply-xorshift
/// rounds, no loop. Every output bit depends on every octet, so the top bits pick the
/// shard and the low bits the slot.
inline std::uint64_t ip_hash(const ip_key& k) noexcept {
  std::uint64_t a, b;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  return base::mix64(a ^ base::mix64(b));
}

/// A Pod's block for the enrichers, in the lookup arena (huge pages).
using wire_string = std::basic_string<char, std::char_traits<char>, lookup_allocator<char>>;

struct pod_entry {
  std::string name;
  std::string pod_namespace;
  std::string node_name;
  /// Go-compatible JSON of the labels, encoded once per Pod event
  /// (antrea-proxy-semantics.md 4); "{}" for a Pod without labels.
  std::string labels_json;
  std::int64_t creation = 0;            ///< seconds since the epoch
  std::optional<std::int64_t> deletion; ///< when the delete or terminal phase was observed
  /// The four strings again, in one block: what an enricher copies into a record, read
  /// through one pointer from the address's slot. Layout: four native-endian 32-bit
  /// lengths (labels JSON, name, namespace, Node), then the four values back to back,
  /// each already encoded as an IPFIX variable-length value (its 1- or 3-octet prefix,
  /// RFC 7011 7), so that a record takes the labels, or the three names, in one copy
  /// (issue 15). Built by `seal`; empty for an entry that was not sealed, or with a
  /// string too long for any IPFIX value (enrichers then read the strings above, more
  /// slowly).
  wire_string wire;
};

/// Builds `e.wire` from its strings, once per Pod event.
void seal(pod_entry& e);

/// Octets of the prefix `seal` writes before a value of `n` octets (RFC 7011 7).
inline std::size_t wire_prefix_size(std::uint32_t n) noexcept {
  return n < 255 ? 1 : 3;
}

/// The strings a record takes from a Pod, as views into its entry.
struct pod_view {
  std::string_view labels_json;
  std::string_view name;
  std::string_view pod_namespace;
  std::string_view node_name;
};

/// The views of a sealed entry's `wire` block (the values, without their prefixes).
inline pod_view wire_view(const char* wire) noexcept {
  std::uint32_t n[4];
  std::memcpy(n, wire, sizeof n);
  const char* p = wire + sizeof n;
  std::string_view v[4];
  for (std::size_t k = 0; k < 4; ++k) {
    p += wire_prefix_size(n[k]);
    v[k] = {p, n[k]};
    p += n[k];
  }
  return {v[0], v[1], v[2], v[3]};
}

/// A sealed block's labels JSON as an IPFIX variable-length value, prefix included.
inline std::string_view wire_labels(const char* wire) noexcept {
  std::uint32_t n;
  std::memcpy(&n, wire, sizeof n);
  return {wire + 4 * sizeof n, wire_prefix_size(n) + n};
}

/// A sealed block's name, namespace and Node, each an IPFIX variable-length value with
/// its prefix, back to back: what the three name fields of one side of a record become.
inline std::string_view wire_names(const char* wire) noexcept {
  std::uint32_t n[4];
  std::memcpy(n, wire, sizeof n);
  const std::size_t skip = wire_prefix_size(n[0]) + n[0];
  std::size_t size = 0;
  for (std::size_t k = 1; k < 4; ++k)
    size += wire_prefix_size(n[k]) + n[k];
  return {wire + sizeof n + skip, size};
}

/// The views of any entry: from `wire` when sealed, else from the strings.
inline pod_view view_of(const pod_entry& e) noexcept {
  if (!e.wire.empty())
    return wire_view(e.wire.data());
  return {e.labels_json, e.name, e.pod_namespace, e.node_name};
}

/// One shard: an open-addressing hash table (linear probing, power-of-two capacity, at
/// most 3/4 full) from address to candidates. It is on the per-record path, twice per
/// record, so a lookup touches as little memory as possible: one hash, then 32-octet
/// slots (two per cache line) that hold the key, the first candidate and, when that is
/// the only candidate, its `wire` block. The single-candidate case (nearly every
/// address) then needs the slot and the block and nothing else; the owning candidate
/// lists sit in a parallel array that only updates and the multi-candidate rule read.
class ip_table {
 public:
  struct slot {
    ip_key key{};
    /// The first candidate; nullptr marks a free slot.
    const pod_entry* first = nullptr;
    /// `first->wire` when `first` is the only candidate and is sealed, else nullptr
    /// (the lookup then takes the candidate list).
    const char* wire = nullptr;
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
      if (!slots[i].first)
        return nullptr;
      if (same_key(slots[i].key, ip))
        return &slots[i];
    }
  }
  /// Two 8-octet compares, inline (std::array's == calls memcmp).
  static bool same_key(const ip_key& a, const ip_key& b) noexcept {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.data(), 8);
    std::memcpy(&a1, a.data() + 8, 8);
    std::memcpy(&b0, b.data(), 8);
    std::memcpy(&b1, b.data() + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
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
  /// Number of addresses held.
  std::size_t size() const noexcept { return size_; }

 private:
  /// Slot index of `ip`; when absent, a slot reserved for it (key set, `first` still
  /// nullptr until `sync`).
  std::size_t locate(const ip_key& ip);
  void sync(std::size_t i);     ///< refreshes slot i from its candidates (frees it if none)
  void erase_at(std::size_t i); ///< frees slot i and shifts its probe run back
  void grow();
  /// In the lookup arena: read at random on every record (lookup_arena.hpp).
  std::vector<slot, lookup_allocator<slot>> slots_;
  std::vector<pod_candidates> values_; ///< parallel to slots_
  std::size_t size_ = 0;
};

class pod_snapshot {
 public:
  /// 1,024 shards: with 100,000 Pods one shard holds ~100 addresses, so a Pod event
  /// copies ~100 candidate lists (at 100 events/s, 256 shards of ~400 cost several
  /// percent of a core in copies and releases); the shard table, copied once per
  /// published snapshot (at most every debounce interval), is 32 KiB with the views.
  static constexpr std::size_t shard_bits = 10;
  static constexpr std::size_t num_shards = std::size_t{1} << shard_bits;

  using candidates = pod_candidates;
  using shard = ip_table;
  using shard_table = std::array<std::shared_ptr<shard>, num_shards>;

  pod_snapshot() = default;
  /// A snapshot over shards that nobody mutates any more (the Pod index's published ones).
  pod_snapshot(shard_table shards, std::size_t num_ips);

  /// The Pod that had `ip` at time `t` (seconds), or nullptr:
  /// no candidate -> none; one candidate -> it, whatever t is (tolerates clock skew);
  /// several -> the one with creation < t and (not deleted or t < deletion).
  const pod_entry* lookup(const ip_key& ip, std::int64_t t) const {
    return find_pod(ip, ip_hash(ip), t).entry;
  }

  /// What a lookup found: the entry, and its `wire` block when it has one.
  struct found {
    const pod_entry* entry = nullptr;
    const char* wire = nullptr;
    explicit operator bool() const noexcept { return entry != nullptr; }
    /// The strings of the entry; only when found.
    pod_view view() const noexcept { return wire ? wire_view(wire) : view_of(*entry); }
  };

  /// `lookup` with `hash = ip_hash(ip)` computed by the caller, returning the block too:
  /// the enrichers' path. Inline, so a batch of lookups is a loop without calls.
  found find_pod(const ip_key& ip, std::uint64_t hash, std::int64_t t) const noexcept {
    const auto& v = views_[shard_of_hash(hash)];
    const auto* s = ip_table::probe(v.slots, v.mask, ip, hash);
    if (!s)
      return {};
    if (s->wire)
      return {s->first, s->wire};
    return pick(shard_of_hash(hash), s, t);
  }

  /// Starts loading the slot where the probe for `hash` begins, so that a batch can
  /// issue the loads of many lookups before it waits for any: the lookups then overlap
  /// their cache misses instead of paying them one after another. One line: slots are
  /// 32-octet aligned, and a probe run that spills into the next line is rare.
  void prefetch(std::uint64_t hash) const noexcept {
    const auto& v = views_[shard_of_hash(hash)];
    if (!v.slots)
      return;
    const auto* s = v.slots + (hash & v.mask);
    __builtin_prefetch(s);
  }

  /// Every Pod that held `ip` (for inspection), or nullptr.
  const candidates* find(const ip_key& ip) const;

  std::size_t num_ips() const { return num_ips_; }

  /// Adds a candidate for `ip` to a snapshot under construction (tests build small ones
  /// this way). Copies the shard first when another snapshot shares it.
  void add(const ip_key& ip, pod_entry_ptr pod);

  /// Which shard holds `ip`.
  static std::size_t shard_of(const ip_key& ip) noexcept;
  static std::size_t shard_of_hash(std::uint64_t hash) noexcept {
    return static_cast<std::size_t>(hash >> (64 - shard_bits));
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
  /// The multi-candidate rule (or an entry without a block), for slot `s` of shard `i`.
  found pick(std::size_t i, const ip_table::slot* s, std::int64_t t) const noexcept;
  shard_table shards_;
  std::array<shard_view, num_shards> views_{};
  std::size_t num_ips_ = 0;
};

using pod_snapshot_ptr = std::shared_ptr<const pod_snapshot>;

} // namespace fa::labels
