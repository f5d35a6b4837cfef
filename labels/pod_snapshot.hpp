#pragma once

// An immutable view of the Pod index that enrichers read without locks or messages
// (DESIGN 2: snapshots, not requests). The lookup rules are Antrea's
// (antrea-proxy-semantics.md 3).

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
  /// The Pod that had `ip` at time `t` (seconds), or nullptr:
  /// no candidate -> none; one candidate -> it, whatever t is (tolerates clock skew);
  /// several -> the one with creation < t and (not deleted or t < deletion).
  const pod_entry* lookup(const ip_key& ip, std::int64_t t) const;

  std::size_t num_ips() const { return by_ip_.size(); }

  /// Adds a candidate for `ip` (used by whoever builds snapshots: the label cache).
  void add(const ip_key& ip, pod_entry_ptr pod) { by_ip_[ip].push_back(std::move(pod)); }

 private:
  std::unordered_map<ip_key, std::vector<pod_entry_ptr>, ip_key_hash> by_ip_;
};

using pod_snapshot_ptr = std::shared_ptr<const pod_snapshot>;

} // namespace fa::labels
