#pragma once

// The mutable Pod index behind the label cache: Pod events in, immutable pod_snapshots
// out (antrea-proxy-semantics.md 3). Not thread-safe; one owner (the label_cache actor).

#include "labels/label_json.hpp"
#include "labels/pod_snapshot.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fa::labels {

/// What the index needs of a Pod object from the Kubernetes API.
struct pod_info {
  std::string uid;
  std::string pod_namespace;
  std::string name;
  std::string node_name;
  label_list labels;
  std::int64_t creation = 0;    ///< metadata.creationTimestamp, seconds since the epoch
  std::vector<std::string> ips; ///< status.podIPs, IPv4 or IPv6 text
  bool host_network = false;    ///< spec.hostNetwork
  std::string phase;            ///< status.phase
};

class pod_index {
 public:
  /// How long a deleted Pod still resolves (antrea-proxy-semantics.md 3: 5 minutes).
  static constexpr std::int64_t default_retention = 300;

  explicit pod_index(std::int64_t retention_seconds = default_retention);

  /// Adds or replaces the Pod with `pod.uid`, as observed at `now` (seconds).
  /// - hostNetwork Pods are not indexed (they share the Node's IP); an entry is dropped.
  /// - Phase Succeeded or Failed marks the Pod deleted at `now` (or keeps an earlier
  ///   deletion time); a terminating update without IPs keeps the IPs it had.
  /// - A live Pod's entry is replaced: IPs it no longer lists stop resolving to it.
  /// - Once deleted, a Pod stays deleted; later updates of it are ignored.
  /// - The labels are encoded to JSON here, once, not per lookup.
  /// - Addresses inet_pton cannot parse are skipped and counted (num_invalid_ips()).
  void upsert(const pod_info& pod, std::int64_t now);

  /// Marks the Pod deleted at `now`; it keeps resolving for the retention period.
  /// Unknown uids and repeated deletes are no-ops.
  void remove(std::string_view uid, std::int64_t now);

  /// Drops the Pods deleted more than the retention period before `now`; returns how many.
  /// Costs what expires (a queue ordered by deletion time), not a scan of the index.
  std::size_t expire(std::int64_t now);

  /// The current state as an immutable snapshot for enrichers. Cached until the next
  /// change. Building one costs the shard table plus the shards changed since the last
  /// snapshot: a shard a published snapshot holds is copied once, on its first change
  /// after that (copy-on-write), never in place.
  pod_snapshot_ptr snapshot() const;

  /// Indexed Pods, live and deleted-but-retained.
  std::size_t size() const { return pods_.size(); }

  /// Distinct IPs over all indexed Pods.
  std::size_t num_ips() const { return num_ips_; }

  /// The uids of the Pods not (yet) deleted: a relist deletes those it no longer holds.
  std::vector<std::string> live_uids() const;

  /// Shards copied since construction because a published snapshot held them.
  std::uint64_t num_shard_copies() const { return num_shard_copies_; }

  /// Pod IPs that could not be parsed, since construction.
  std::uint64_t num_invalid_ips() const { return num_invalid_ips_; }

  std::int64_t retention() const { return retention_; }

 private:
  struct record {
    pod_entry_ptr entry;
    std::vector<ip_key> ips;
  };

  /// The shard holding `ip`, ready to be changed: copied first if a snapshot holds it.
  pod_snapshot::shard& writable_shard(const ip_key& ip);
  /// Replaces `old_entry` (or adds, when absent) by `entry` among the candidates of `ip`.
  void put(const ip_key& ip, const pod_entry_ptr& old_entry, const pod_entry_ptr& entry);
  /// Removes `entry` from the candidates of `ip`.
  void drop(const ip_key& ip, const pod_entry_ptr& entry);
  void erase(std::unordered_map<std::string, record>::iterator i);

  std::int64_t retention_;
  std::unordered_map<std::string, record> pods_; // by uid
  pod_snapshot::shard_table shards_;
  /// Shards the cached snapshot holds; cleared for a shard when it is copied.
  mutable std::array<bool, pod_snapshot::num_shards> published_{};
  std::size_t num_ips_ = 0;
  std::multimap<std::int64_t, std::string> deletions_; // deletion time -> uid
  std::uint64_t num_invalid_ips_ = 0;
  std::uint64_t num_shard_copies_ = 0;
  mutable pod_snapshot_ptr cached_;
};

/// Parses an IPv4 or IPv6 address (inet_pton); IPv4 becomes IPv4-mapped.
std::optional<ip_key> parse_ip(const std::string& text);

} // namespace fa::labels
